"""Locust users for `serving_load.py`: closed-loop clients that each send v1 predict requests
back to back, cycling through the request bodies in $AKTREC_BODIES (a JSON list of bodies)."""

import itertools
import json
import os

from locust import FastHttpUser, task

BODIES = [json.dumps(body) for body in json.loads(open(os.environ["AKTREC_BODIES"]).read())]
PATH = os.environ.get("AKTREC_PATH", "/v1/models/aktrec:predict")
_next_body = itertools.count()


class Client(FastHttpUser):
    @task
    def predict(self) -> None:
        body = BODIES[next(_next_body) % len(BODIES)]
        with self.client.post(
            PATH, data=body, headers={"Content-Type": "application/json"}, catch_response=True
        ) as response:
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}: {response.text[:200]}")
