"""The naive peer `make bench` measures the leads service against: what a low-code flow
(Node-RED: HTTP in -> insertOne -> Kafka produce -> 202) does, on the same servers, in the same
stack as the hub (FastAPI, PyMongo, aiokafka). It keeps none of the hub's guarantees: no
deduplication of retries or people, no assignment, no outbox (with Kafka down it stores leads
whose events are then lost for good).

    python bench/naive_peer.py --port 8099 --kafka 127.0.0.1:9092 --mongo mongodb://127.0.0.1:27017/ --topic bench.naive
"""

from __future__ import annotations

import argparse
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pymongo import AsyncMongoClient


def app(kafka: str, mongo: str, topic: str) -> FastAPI:
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        state["mongo"] = AsyncMongoClient(mongo)
        state["leads"] = state["mongo"]["bench_naive_peer"]["leads"]
        state["kafka"] = AIOKafkaProducer(bootstrap_servers=kafka, acks="all")
        await state["kafka"].start()
        yield
        await state["kafka"].stop()
        await state["mongo"].close()

    api = FastAPI(lifespan=lifespan)

    @api.post("/v1/leads")
    async def lead(request: Request) -> JSONResponse:
        body = await request.json()
        lead_id = str(uuid.uuid4())
        await state["leads"].insert_one({"_id": lead_id, **body})
        await state["kafka"].send_and_wait(
            topic,
            json.dumps({"lead_id": lead_id, **body}).encode(),
            key=lead_id.encode(),
            headers=[("ce_type", b"lead.created")],
        )
        return JSONResponse({"lead_id": lead_id}, status_code=202)

    @api.get("/ready")
    async def ready() -> dict[str, str]:
        return {"status": "ready"}

    return api


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--kafka", required=True)
    parser.add_argument("--mongo", required=True)
    parser.add_argument("--topic", required=True)
    args = parser.parse_args()
    uvicorn.run(app(args.kafka, args.mongo, args.topic), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
