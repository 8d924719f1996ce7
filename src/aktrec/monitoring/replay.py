"""Replay a held-out window of labelled samples against live predictors, as a rollout would see
it: each user's impressions become requests, a seeded share of them goes to the canary, and
the window's labels become the outcomes `aktrec readout` joins with the prediction log (by the
request id each request was sent with). The
rehearsal of the after-deployment tools and their benchmark on real data run it."""

from __future__ import annotations

import json
import random
import urllib.request
import uuid

import numpy as np
import pandas as pd

from aktrec import schemas

OUTCOME_DELAY = pd.Timedelta(seconds=1)  # a click comes after the impression it answers


def window_requests(samples: pd.DataFrame, candidates: int = 10) -> pd.DataFrame:
    """The samples' impressions as requests: per user in time order, runs of up to `candidates`
    items (one request per run), with the samples' labels kept per request and item. A request
    lists a candidate once: a user's item shown again goes into a later request."""
    ordered = samples.sort_values([schemas.USER_ID, schemas.TS], kind="stable")
    shown_before = ordered.groupby([schemas.USER_ID, schemas.ITEM_ID]).cumcount()
    ordered = ordered.assign(shown_before=shown_before).sort_values(
        [schemas.USER_ID, "shown_before", schemas.TS], kind="stable"
    )
    run = ordered.groupby([schemas.USER_ID, "shown_before"]).cumcount() // candidates
    grouped = ordered.groupby([ordered[schemas.USER_ID], ordered["shown_before"], run], sort=False)
    requests = grouped.agg(
        item_ids=(schemas.ITEM_ID, list), labels=(schemas.LABEL, list), first=(schemas.TS, "min")
    ).reset_index()
    requests = requests.sort_values("first", kind="stable").reset_index(drop=True)
    return requests[[schemas.USER_ID, schemas.ITEM_IDS, "labels"]]


def replay(
    urls: dict[str, str], canary_share: float, requests: pd.DataFrame, model_name: str = "aktrec", seed: int = 0
) -> pd.DataFrame:
    """POST every request (v1) to the stable URL, or with probability `canary_share` to the
    canary's, each under its own x-request-id; returns the requests with the arm, the id and the
    time each was answered."""
    chooser, sent = random.Random(seed), []
    for user_id, item_ids in zip(requests[schemas.USER_ID], requests[schemas.ITEM_IDS]):
        arm = "canary" if "canary" in urls and chooser.random() < canary_share else "stable"
        request_id = str(uuid.uuid4())
        body = json.dumps({"instances": [{"user_id": user_id, "item_ids": list(item_ids)}]}).encode()
        request = urllib.request.Request(
            f"{urls[arm]}/v1/models/{model_name}:predict",
            data=body,
            headers={"Content-Type": "application/json", "x-request-id": request_id},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()
        sent.append((arm, request_id, pd.Timestamp.now(tz="UTC")))
    arms, ids, answered = zip(*sent) if sent else ((), (), ())
    return requests.assign(**{schemas.ARM: arms, schemas.REQUEST_ID: ids, "answered": answered})


def outcomes(replayed: pd.DataFrame) -> pd.DataFrame:
    """The replayed window's clicks as outcomes: the request that showed the item (its id),
    the user, the item and a time just after the answer."""
    sizes = replayed[schemas.ITEM_IDS].map(len).to_numpy()
    rows = pd.DataFrame(
        {
            schemas.REQUEST_ID: np.repeat(replayed[schemas.REQUEST_ID].to_numpy(), sizes),
            schemas.USER_ID: np.repeat(replayed[schemas.USER_ID].to_numpy(), sizes),
            schemas.ITEM_ID: [item for items in replayed[schemas.ITEM_IDS] for item in items],
            schemas.TS: np.repeat(replayed["answered"].to_numpy(), sizes) + OUTCOME_DELAY,
            schemas.LABEL: [label for labels in replayed["labels"] for label in labels],
        }
    )
    return rows[rows[schemas.LABEL] == 1].drop(columns=schemas.LABEL).reset_index(drop=True)
