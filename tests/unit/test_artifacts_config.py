import pytest

from aktrec.artifacts import MARKER, read_marker, staged_output
from aktrec.config import PrepareConfig, SynthConfig, TrainConfig, from_dict, load_config
from aktrec.errors import AktrecError, ArtifactError


def test_staged_output_replaces_only_when_complete(tmp_path):
    out = tmp_path / "out"
    with staged_output(out, "demo") as staging:
        (staging / "a.txt").write_text("first")
    assert (out / "a.txt").read_text() == "first"
    assert read_marker(out, "demo")["kind"] == "demo"
    with pytest.raises(RuntimeError):
        with staged_output(out, "demo") as staging:
            (staging / "a.txt").write_text("second")
            raise RuntimeError("stage failed half way")
    assert (out / "a.txt").read_text() == "first"  # nothing already written is lost
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no staging left behind
    with staged_output(out, "demo") as staging:
        (staging / "a.txt").write_text("second")
    assert (out / "a.txt").read_text() == "second"


def test_staged_output_refuses_foreign_directories(tmp_path):
    foreign = tmp_path / "home"
    foreign.mkdir()
    (foreign / "precious.txt").write_text("keep me")
    with pytest.raises(ArtifactError, match="not an aktrec artifact; refusing"):
        with staged_output(foreign, "demo"):
            pass
    assert (foreign / "precious.txt").exists()
    with pytest.raises(ArtifactError, match="expected 'raw'"):
        with staged_output(tmp_path / "x", "prepared"):
            pass
        read_marker(tmp_path / "x", "raw")
    assert (tmp_path / "x" / MARKER).exists()


def test_config_from_dict_and_yaml(tmp_path):
    config = from_dict(PrepareConfig, {"split": {"method": "leave-last-out"}, "negatives": {"ratio": 2}})
    assert config.split.method == "leave-last-out" and config.negatives.ratio == 2
    with pytest.raises(AktrecError, match=r"config.negatives.ratoi: unknown key; known: \['exponent', 'ratio'"):
        from_dict(PrepareConfig, {"negatives": {"ratoi": 2}})
    with pytest.raises(AktrecError, match="config.split.method: Input should be 'time', 'per-user' or"):
        from_dict(PrepareConfig, {"split": {"method": "random"}})
    for wrong in ("many", True, 2.5):  # a number where a count is due, not a string, a boolean or a fraction
        with pytest.raises(AktrecError, match="config.n_users: Input should be a valid integer"):
            from_dict(SynthConfig, {"n_users": wrong})
    with pytest.raises(AktrecError, match="config.negatives: Input should be an object"):
        from_dict(PrepareConfig, {"negatives": 4})
    assert from_dict(PrepareConfig, {"negatives": {"exponent": 1}}).negatives.exponent == 1.0  # an int is a number
    path = tmp_path / "synth.yaml"
    path.write_text("n_users: 10\nn_items: 5\nn_interactions: 100\n")
    assert load_config(SynthConfig, path).n_users == 10
    path.write_text("n_users: 10\nn_items: 5\nn_interactions: 100\nitem_popularity_exponent: 12e-1\n")
    assert load_config(SynthConfig, path).item_popularity_exponent == 1.2  # YAML 1.2 numbers
    path.write_text("- not a mapping\n")
    with pytest.raises(AktrecError, match="expected a mapping"):
        load_config(SynthConfig, path)


def test_per_variant_optimizer_settings():
    config = from_dict(
        TrainConfig,
        {"loop": {"learning_rate": 0.004}, "per_variant": {"base": {"learning_rate": 0.002, "weight_decay": 1e-4}}},
    )
    assert (config.training("base").learning_rate, config.training("base").weight_decay) == (0.002, 1e-4)
    assert config.training("aktrec") == config.loop  # no own settings: the shared loop
    assert config.training("base").epochs == config.loop.epochs  # only the optimizer differs
    with pytest.raises(AktrecError, match=r"config.per_variant.base.lr: unknown key; known: \['learning_rate'"):
        from_dict(TrainConfig, {"per_variant": {"base": {"lr": 0.1}}})
    with pytest.raises(AktrecError, match="unknown variant 'bsae'"):
        from_dict(TrainConfig, {"per_variant": {"bsae": {"learning_rate": 0.1}}})


def test_renamed_settings_still_read_from_files_written_before(tmp_path, caplog):
    from aktrec.config import ItemEmbedConfig
    from aktrec.pipeline.steps import section, split_config

    path = tmp_path / "train.yaml"  # `aktrec train --config`, as written before the rename
    path.write_text("train: {epochs: 4}\n")
    with caplog.at_level("WARNING", logger="aktrec"):
        assert load_config(TrainConfig, path).loop.epochs == 4
        sections = split_config("train:\n  train: {epochs: 3}\nembed_items: {negatives: 8}\n")  # a pipeline config
        assert section("train", sections["train"]).loop.epochs == 3
        assert section("embed_items", sections["embed_items"]).contrast_samples == 8
    assert (
        "'train' is now called 'loop'" in caplog.text and "'negatives' is now called 'contrast_samples'" in caplog.text
    )
    assert from_dict(ItemEmbedConfig, {"negatives": 3}).contrast_samples == 3  # an EMB's recorded settings
    with pytest.raises(AktrecError, match="both 'negatives' and its new name 'contrast_samples'"):
        from_dict(ItemEmbedConfig, {"negatives": 3, "contrast_samples": 4})


def test_loop_settings_read_from_before_keep_each_models_own_defaults():
    from aktrec.config import RQVAEConfig, UserEmbedConfig

    users = from_dict(UserEmbedConfig, {"epochs": 3})  # an EMB's recorded settings, flat
    assert (users.loop.epochs, users.loop.batch_size) == (3, 128)
    rqvae = from_dict(RQVAEConfig, {"loop": {"epochs": 30}})  # the others stay the RQ-VAE's
    assert (rqvae.loop.epochs, rqvae.loop.batch_size, rqvae.loop.learning_rate) == (30, 512, 1e-3)
    with pytest.raises(AktrecError, match="both 'batch_size' and its new name 'loop.batch_size'"):
        from_dict(RQVAEConfig, {"batch_size": 64, "loop": {"batch_size": 32}})


def test_flat_cluster_job_settings_read_into_their_resource_shape():
    from aktrec.config import FeatureConfig

    flat = {
        "engine": "spark",
        "spark_application": {"driver_memory": "2g", "executor_instances": 8, "executor": {"cores": 4}},
    }
    job = from_dict(FeatureConfig, flat).spark_application
    assert (job.driver.memory, job.driver.cores) == ("2g", 1)
    assert (job.executor.instances, job.executor.cores, job.executor.memory) == (8, 4, "8g")
    train = from_dict(TrainConfig, {"train_job": {"cpu": "8", "nodes": 3}}).train_job
    assert (train.resources_per_node.cpu, train.resources_per_node.memory, train.nodes) == ("8", "16Gi", 3)
    with pytest.raises(AktrecError, match="both 'executor_cores' and its new name 'executor.cores'"):
        from_dict(
            FeatureConfig, {"engine": "spark", "spark_application": {"executor_cores": 2, "executor": {"cores": 4}}}
        )
    with pytest.raises(AktrecError, match="'executor_cores' is now 'executor.cores', but 'executor' is not a mapping"):
        from_dict(FeatureConfig, {"engine": "spark", "spark_application": {"executor_cores": 2, "executor": 4}})
