"""The item representation stage beside the bare `transformers` forward of the same prompts.

    python benchmarks/encoder_ceiling.py --data DATA [--dtypes float32 bfloat16] [--out DIR]

For each encoder dtype: the bare forward (plain `AutoModel`, the stage's batch size and max
length, length-sorted batches, tokenization and mean pooling included) over the stage's own
prompts, then `run_embed_items` with that dtype, its time split into loading, prompt building,
encoding, alignment and writing + validation, and the held-out pair recall@10 before and after
alignment (the quality check of a cheaper dtype against float32's), and how far a prompt's
vector moves when it is encoded alone instead of in its batch (the representation cache keys a
vector by its prompt alone, so it must not depend on its batch mates).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def bare_forward_seconds(prompts: list[str], dtype: str, batch_size: int, max_length: int) -> float:
    """Seconds for plain AutoModel inference over `prompts`, nothing of aktrec's in the loop."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    from aktrec.config import BUNDLED_MODEL
    from aktrec.embed.encoder import resolve_model_path

    path = resolve_model_path(BUNDLED_MODEL)
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    load_dtype = torch.bfloat16 if dtype == "bfloat16" else torch.float32
    model = AutoModel.from_pretrained(path, local_files_only=True, dtype=load_dtype).eval()
    ordered = sorted(prompts, key=len)
    started = time.perf_counter()
    with torch.no_grad():
        for start in range(0, len(ordered), batch_size):
            batch = tokenizer(
                ordered[start : start + batch_size],
                padding=True,
                truncation=True,
                max_length=max_length,
                return_tensors="pt",
            )
            hidden = model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            torch.nn.functional.normalize(((hidden * mask).sum(1) / mask.sum(1)).float(), dim=-1)
    return time.perf_counter() - started


def batch_independence(prompts: list[str], dtype: str, sample: int = 64) -> float:
    """Smallest cosine between a prompt's vector encoded in a batch and encoded alone."""
    import numpy as np

    from aktrec.config import EncoderConfig
    from aktrec.embed.encoder import ContentEncoder

    encoder = ContentEncoder(EncoderConfig(dtype=dtype))
    chosen = prompts[:: max(1, len(prompts) // sample)][:sample]
    together = encoder.encode(chosen)
    alone = np.concatenate([encoder.encode([prompt]) for prompt in chosen])
    return float((together * alone).sum(axis=1).min())


def stage_prompts(data_dir: Path) -> list[str]:
    """The prompts `embed items` encodes, built the way the stage builds them."""
    import pandas as pd

    from aktrec import schemas
    from aktrec.config import ItemEmbedConfig
    from aktrec.data.prepare import read_prepared
    from aktrec.embed.items import item_table
    from aktrec.embed.prompts import ActivityLevels, item_activity, item_prompts

    data = read_prepared(data_dir)
    config = ItemEmbedConfig()
    items = item_table(data)
    activity = item_activity(data.representation_events(), pd.Index(items[schemas.ITEM_ID]), data.positives_only)
    return item_prompts(items, activity, ActivityLevels.fit(activity, config.activity_levels))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="a prepared data set (DATA)")
    parser.add_argument("--dtypes", nargs="+", default=["float32", "bfloat16"])
    parser.add_argument("--out", type=Path, default=None, help="where the EMB outputs go (default: a temp dir)")
    args = parser.parse_args()

    from aktrec.config import EncoderConfig, ItemEmbedConfig
    from aktrec.embed.stage import run_embed_items

    prompts = stage_prompts(args.data)
    encoder = EncoderConfig()
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        out_root = args.out or Path(scratch)
        for dtype in args.dtypes:
            bare = bare_forward_seconds(prompts, dtype, encoder.batch_size, encoder.max_length)
            started = time.perf_counter()
            config = ItemEmbedConfig(encoder=EncoderConfig(dtype=dtype))
            metrics = run_embed_items(args.data, out_root / dtype, config)
            wall = time.perf_counter() - started
            rows.append((dtype, bare, metrics, wall, batch_independence(prompts, dtype)))

    n = len(prompts)
    print(
        "| dtype | items | bare forward items/s | stage encoding items/s | stage / bare | load s | prompts s | "
        "encode s | align s | write + validate s | stage s | recall@10 before | recall@10 after | "
        "alone vs in a batch: min cosine |"
    )
    print("|---|" + "---|" * 13)
    for dtype, bare, m, wall, alone in rows:
        print(
            f"| {dtype} | {n:,} | {n / bare:.0f} | {n / m['seconds_encode']:.0f} | "
            f"{bare / m['seconds_encode']:.2f} | {m['seconds_load']:.1f} | {m['seconds_prompts']:.1f} | "
            f"{m['seconds_encode']:.1f} | {m['seconds_align']:.1f} | {wall - m['seconds_total']:.1f} | {wall:.0f} | "
            f"{m['holdout_recall@10_before']:.4f} | {m['holdout_recall@10_after']:.4f} | {alone:.4f} |"
        )


if __name__ == "__main__":
    main()
