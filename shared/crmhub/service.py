"""One hub service = one process serving FastAPI and FastStream together.

A service declares what it publishes, which aggregates it stores (their outboxes are relayed),
which event types it consumes, which timers it fires and whether it needs the team directory;
`HubService` starts and stops all of it in order and serves the operational endpoints.
Everything it knows comes from its settings (environment).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping
from contextlib import asynccontextmanager, suppress
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx
import pymongo
import uvicorn
from fastapi import APIRouter, FastAPI
from faststream.specification import AsyncAPI, Specification
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from crmhub import metrics, topics
from crmhub.access import PUBLIC_OPERATIONS
from crmhub.aggregate import Aggregate
from crmhub.aggregate_store import AggregateStore
from crmhub.auth import TokenVerifier, TrustedIssuer, parse_role_map
from crmhub.dependencies import DependencyWatch
from crmhub.events import CloudEvent, EventData, KafkaRecord, new_event, to_record
from crmhub.kafka import BatchHandler, EventConsumer, TypedHandler, ensure_topics, make_broker
from crmhub.logs import configure_logging
from crmhub.mongo import Document, make_client
from crmhub.outbox import OutboxRelay, Project
from crmhub.schemas.audit import ApiTokenUsed
from crmhub.settings import HubSettings
from crmhub.team_directory import TeamDirectory
from crmhub.team_follower import TeamDirectoryFollower
from crmhub.timers import Held, TimerHandler, TimerRunner, TimerStore
from crmhub.watermarks import WatermarkStore
from crmhub.web import ReadinessCheck, add_operational_routes, install

log = logging.getLogger("crmhub.service")
GRACEFUL_SECONDS = 15.0
A = TypeVar("A", bound=Aggregate)


class HubService:
    def __init__(self, settings: HubSettings, *, title: str, description: str, version: str = "0.1.0") -> None:
        self.settings = settings
        self.title = title
        self.description = description
        self.version = version
        self.broker = make_broker(
            settings.kafka_bootstrap_servers, client_id=settings.service_name, login=settings.kafka_login
        )
        self.mongo = make_client(settings.mongodb_url, app_name=settings.service_name)
        self.db: AsyncDatabase[Document] = self.mongo[settings.database_name]
        self.relay: OutboxRelay | None = None
        self.team: TeamDirectoryFollower | None = None
        self._publishers: dict[str, Any] = {}
        self._outbox_collections: list[AsyncCollection[Document]] = []
        self._projections: dict[str, Project] = {}
        self._trailing: dict[str, Project] = {}
        self._startup: list[Callable[[], Awaitable[None]]] = []
        self._shutdown: list[Callable[[], Awaitable[None]]] = []
        self._background: list[tuple[Callable[[], Coroutine[Any, Any, None]], bool]] = []
        wedged_after = timedelta(seconds=settings.wedged_after_seconds)
        self.mongo_watch = DependencyWatch("mongodb", wedged_after=wedged_after)
        self.kafka_watch = DependencyWatch("kafka", wedged_after=wedged_after)
        # Set when the service is asked to stop: loops registered as graceful finish their
        # round (and record its outcome) instead of being cancelled in the middle.
        self.stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._graceful: list[asyncio.Task[None]] = []
        self.http_client = httpx.AsyncClient(timeout=5)
        self._token_stamps: dict[str, datetime] = {}
        self._stamping: set[asyncio.Task[None]] = set()
        self.timers = TimerStore(self.db["timers"], on_scheduled=self._timer_scheduled)
        self.watermarks = WatermarkStore(self.db["watermarks"])
        self._ordered: list[EventConsumer] = []
        self.timer_runner = TimerRunner(
            self.timers,
            poll_seconds=settings.timer_poll_seconds,
            lease=timedelta(seconds=settings.timer_lease_seconds),
            concurrency=settings.timer_concurrency,
        )

    # --- declarations -------------------------------------------------------------------------

    def publishes(self, *event_classes: type[EventData]) -> None:
        """Declare the events this service emits: they get a publisher and appear in /asyncapi."""
        for cls in event_classes:
            self._publishers[cls.event_type] = self.broker.publisher(
                cls.topic.name,
                title=f"{cls.topic.name}:{cls.event_type}",
                schema=cls,
                description=f"CloudEvents type `{cls.event_type}` (binary mode: ce_* headers, key = subject). {cls.__doc__ or ''}".strip(),
            )

    def outbox(self, *collections: AsyncCollection[Document]) -> None:
        """Collections whose documents carry an outbox the relay moves to Kafka."""
        self._outbox_collections.extend(collections)

    def projects(self, collection: AsyncCollection[Document], project: Project, *, then: Project | None = None) -> None:
        """Read models the relay brings up to date from `collection`'s events before sending them
        (`project`), and those that may trail them by a moment, after sending them (`then`, such
        as figures); both before the events are cleared, so neither misses one."""
        self._projections[collection.name] = project
        if then is not None:
            self._trailing[collection.name] = then

    def aggregates(self, collection: str, model: type[A]) -> AggregateStore[A]:
        """The store of one kind of aggregate: its outbox is relayed, its timers go to `timers`."""
        store = AggregateStore(self.db[collection], model, timers=self.timers, on_stored=self.nudge_relay)
        self.outbox(store.collection)
        return store

    def consumes(
        self,
        topic: topics.Topic,
        *,
        group: str,
        handlers: Mapping[type[EventData], TypedHandler[Any]],
        description: str,
        batch: BatchHandler | None = None,
        in_time_order: bool = False,
    ) -> EventConsumer:
        """Subscribe a consumer group to `topic` for the event types in `handlers` (documented in
        /asyncapi); other known types on the topic are skipped, unknown ones dead-lettered.
        `in_time_order`: the partitions take turns often (see EventConsumer)."""
        consumer = EventConsumer(
            broker=self.broker,
            topic=topic,
            group_id=group,
            handlers=handlers,
            max_attempts=self.settings.consumer_max_attempts,
            backoff_seconds=self.settings.consumer_backoff_seconds,
            ready=lambda: self.team.ready_event if self.team is not None else None,
            batch=batch,
            in_time_order=in_time_order,
        )
        consumer.subscribe(description=description)
        if in_time_order:
            self._ordered.append(consumer)
        return consumer

    def token_verifier(self, fetch: Any = None) -> TokenVerifier:
        """Checks bearer tokens from the hub's own issuer and, when configured, an OpenID Connect provider."""
        settings = self.settings
        issuers = [TrustedIssuer(settings.auth_issuer, settings.auth_jwks_url, settings.auth_audience)]
        if settings.oidc_issuer and settings.oidc_jwks_url:
            issuers.append(
                TrustedIssuer(
                    settings.oidc_issuer,
                    settings.oidc_jwks_url,
                    settings.oidc_audience,
                    role_claim=settings.oidc_role_claim,
                    role_map=parse_role_map(settings.oidc_role_map),
                    subject_claim="email",
                )
            )
        return TokenVerifier(
            issuers,
            fetch=fetch or self._fetch_json,
            directory=self.team.directory if self.team else None,
            on_token_used=self._token_used,
        )

    def _token_used(self, token_id: str) -> None:
        """Tell the motivation service an API token was used here (at most once a minute per token;
        best effort: a lost stamp only makes `last_used_at` a minute older)."""
        now = datetime.now(UTC)
        last = self._token_stamps.get(token_id)
        if last is not None and now - last < timedelta(minutes=1):
            return
        self._token_stamps[token_id] = now
        used = ApiTokenUsed(token_id=token_id, service=self.settings.service_name, at=now)
        record = to_record(
            new_event(used, source=f"/crm/{self.settings.service_name}", subject=f"token:{token_id}", time=now)
        )
        task = asyncio.create_task(self._stamp(record))
        self._stamping.add(task)
        task.add_done_callback(self._stamping.discard)

    async def _stamp(self, record: KafkaRecord) -> None:
        try:
            await self.broker.publish(record.value, record.topic, key=record.key, headers=record.headers)
        except Exception as exc:
            log.warning("could not record an API token's use: %s", exc)

    async def _fetch_json(self, url: str) -> dict[str, Any]:
        response = await self.http_client.get(url)
        response.raise_for_status()
        document: dict[str, Any] = response.json()
        return document

    def on_timer(self, kind: str, handler: TimerHandler, *, in_event_order: bool = False) -> None:
        """Fire `handler` for due timers of `kind` (crmhub.timers), in every instance. With
        `in_event_order`, a timer due at an event's time fires only once this service's
        time-ordered consumers (`consumes(..., in_time_order=True)`) have handled every event
        before it, or once it has waited EVENT_ORDER_WAIT_SECONDS since it was scheduled
        (crmhub.watermarks)."""
        self.timer_runner.on(kind, handler, gate=self._in_event_order if in_event_order else None)

    async def _in_event_order(self, now: datetime) -> Held:
        settings = self.settings
        groups = [consumer.group_id for consumer in self._ordered]
        handled = await self.watermarks.through(
            groups, now=now, grace=timedelta(seconds=settings.event_order_grace_seconds)
        )
        return Held(handled, scheduled_before=now - timedelta(seconds=settings.event_order_wait_seconds))

    async def _report_watermarks(self) -> None:
        """How far the time-ordered consumers are, for every instance's timers; a change wakes this one's."""
        while True:
            await asyncio.sleep(self.settings.event_order_report_seconds)
            try:
                marks = [mark for consumer in self._ordered for mark in await consumer.marks()]
                if await self.watermarks.report(marks):
                    self.timer_runner.nudge(datetime.now(UTC))
            except Exception as exc:  # an outage: the marks stay where they were, and are written again
                log.warning("could not report how far the consumers are: %s", exc)

    def _timer_scheduled(self, due_at: Any) -> None:
        self.timer_runner.nudge(due_at)

    def follow_team_directory(self) -> TeamDirectory:
        self.team = TeamDirectoryFollower(
            self.broker, self.settings.kafka_bootstrap_servers, login=self.settings.kafka_login
        )
        return self.team.directory

    def on_startup(self, hook: Callable[[], Awaitable[None]]) -> None:
        self._startup.append(hook)

    def on_shutdown(self, hook: Callable[[], Awaitable[None]]) -> None:
        self._shutdown.append(hook)

    def background(self, loop: Callable[[], Coroutine[Any, Any, None]], *, graceful: bool = False) -> None:
        """Run `loop` while the service runs. A graceful loop must return once `stopping` is set;
        it gets GRACEFUL_SECONDS to do so. Others are cancelled at once."""
        self._background.append((loop, graceful))

    def nudge_relay(
        self, collection: str | None = None, doc_id: Any = None, entries: list[Document] | None = None
    ) -> None:
        """Stores call this after writing events into a document's outbox (with the entries written)."""
        if self.relay is not None:
            self.relay.nudge(collection, doc_id, entries)

    # --- running --------------------------------------------------------------------------------

    def asyncapi(self) -> Specification:
        return AsyncAPI(
            self.broker, title=f"{self.title} events", version=self.version, description=self.description
        ).to_specification()

    async def send_record(self, record: KafkaRecord) -> asyncio.Future[Any]:
        event_type = record.headers["ce_type"]
        publisher = self._publishers.get(event_type)
        if publisher is None:
            raise RuntimeError(
                f"{self.settings.service_name} stored a {event_type} event but does not declare it with publishes()"
            )
        future: asyncio.Future[Any] = await publisher.publish(
            record.value, key=record.key, headers=record.headers, no_confirm=True
        )
        return future

    async def _count_published(self, events: list[CloudEvent]) -> None:
        for event in events:
            metrics.EVENTS_PUBLISHED.labels(event.topic, event.type).inc()

    async def start(self) -> None:
        if self.settings.create_topics:
            await ensure_topics(self.settings.kafka_bootstrap_servers, topics.ALL, login=self.settings.kafka_login)
        await self.timers.ensure_indexes()
        for hook in self._startup:
            await hook()
        await self.broker.start()
        if self.team is not None:
            await self.team.start()
        if self._outbox_collections:
            self.relay = OutboxRelay(
                collections=self._outbox_collections,
                send=self.send_record,
                poll_seconds=self.settings.outbox_poll_seconds,
                scan_seconds=self.settings.outbox_scan_seconds,
                on_published=self._count_published,
                projections=self._projections,
                trailing=self._trailing,
            )
            await self.relay.ensure_indexes()
            self._tasks.append(asyncio.create_task(self.relay.run(), name="outbox-relay"))
        if self.timer_runner.kinds:
            # Timers wait for the team directory: their handlers compute deadlines and recipients from it.
            ready = self.team.ready_event if self.team is not None else None
            self._graceful.append(asyncio.create_task(self.timer_runner.run(self.stopping, ready=ready), name="timers"))
        if self._ordered:
            self._tasks.append(asyncio.create_task(self._report_watermarks(), name="watermarks"))
        self._tasks.append(asyncio.create_task(self._watch_dependencies(), name="dependency-watch"))
        for loop, graceful in self._background:
            task = asyncio.create_task(loop(), name=getattr(loop, "__name__", "background"))
            (self._graceful if graceful else self._tasks).append(task)
        log.info("%s started", self.settings.service_name)

    async def stop(self) -> None:
        self.stopping.set()
        for task in self._tasks:
            task.cancel()
        if self._graceful:
            _, late = await asyncio.wait(self._graceful, timeout=GRACEFUL_SECONDS)
            for task in late:
                task.cancel()
        await asyncio.gather(*self._tasks, *self._graceful, return_exceptions=True)
        self._tasks.clear()
        self._graceful.clear()
        await self.broker.stop()
        for hook in self._shutdown:
            await hook()
        await self.mongo.close()
        await self.http_client.aclose()
        log.info("%s stopped", self.settings.service_name)

    async def _check_mongo(self) -> tuple[bool, str]:
        # the driver's own timeout (CSOT), not a cancellation from outside: an operation cancelled
        # mid-flight can leave the driver's connection pool in a bad state
        with pymongo.timeout(3):
            await self.db.command("ping")
        return True, "ping ok"

    async def _fresh_mongo_ping(self) -> bool:
        """Does a brand-new connection reach the database (when ours does not)?"""
        fresh: AsyncMongoClient[Document] = AsyncMongoClient(
            self.settings.mongodb_url, serverSelectionTimeoutMS=2000, connectTimeoutMS=2000
        )
        try:
            with pymongo.timeout(3):
                await fresh.admin.command("ping")
            return True
        except Exception:
            return False
        finally:
            await fresh.close()

    async def _watch_dependencies(self) -> None:
        """Outages as states (crmhub.dependencies): logged when they start and end, a gauge meanwhile;
        a process whose own MongoDB client is stuck while the database answers is reported wedged."""
        while not self.stopping.is_set():
            now = datetime.now(UTC)
            try:
                await self._check_mongo()
                self.mongo_watch.observe(ours=True, fresh=None, now=now)
            except Exception as exc:
                self.mongo_watch.observe(ours=False, fresh=await self._fresh_mongo_ping(), now=now, detail=str(exc))
            try:
                ok, detail = await self._check_kafka()
            except Exception as exc:
                ok, detail = False, str(exc)
            self.kafka_watch.observe(ours=ok, fresh=None, now=now, detail=detail)
            with suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), self.settings.dependency_check_seconds)

    def wedged(self) -> str | None:
        """Why the process cannot heal itself (for /health), or None."""
        if self.mongo_watch.wedged(datetime.now(UTC)):
            return "the MongoDB client has not reached the database for a while though a new connection does"
        return None

    async def _check_kafka(self) -> tuple[bool, str]:
        ok = await self.broker.ping(timeout=3)
        return bool(ok), "broker reachable" if ok else "broker unreachable"

    async def _check_team(self) -> tuple[bool, str]:
        assert self.team is not None
        directory = self.team.directory
        if not self.team.caught_up:
            return False, "still reading crm.team"
        return True, f"{len(directory.departments)} departments, {len(directory.managers)} managers"

    def http_app(self, *routers: APIRouter) -> FastAPI:
        @asynccontextmanager
        async def lifespan(app: FastAPI) -> AsyncIterator[None]:
            await self.start()
            freeze_started_heap()
            try:
                yield
            finally:
                await self.stop()

        app = FastAPI(
            title=self.title,
            description=self.description,
            version=self.version,
            lifespan=lifespan,
            docs_url=None,  # /docs is served with local assets (crmhub.web), not from a CDN
            redoc_url=None,
        )
        install(app, max_body_bytes=self.settings.max_body_bytes, body_timeout=self.settings.body_timeout_seconds)
        checks: dict[str, ReadinessCheck] = {"mongodb": self._check_mongo, "kafka": self._check_kafka}
        if self.team is not None:
            checks["team_directory"] = self._check_team
        add_operational_routes(
            app,
            service=self.settings.service_name,
            checks=checks,
            asyncapi=self.asyncapi,
            public=PUBLIC_OPERATIONS,
            wedged=self.wedged,
        )
        for router in routers:
            app.include_router(router)
        app.state.verifier = self.token_verifier()
        return app


# How often the cyclic collector runs once the service has started (gc.set_threshold): the
# youngest generation after 20,000 new container objects, not Python's 700, and the middle one
# after 50 of those, not 10. A consumer's poll of 10,000 events lives for the whole poll: under
# the defaults each of its objects was walked again and again as it aged through the
# generations, a quarter of the motivation process's time while it took call events in (74 µs
# of Python per event, 50 µs with these; with the collector off, 47). Garbage without cycles is
# freed at once either way; cycles wait a little longer.
GC_THRESHOLDS = (20_000, 50, 10)


def freeze_started_heap() -> None:
    """Once the service has started: leave what it built to start out of every later garbage
    collection. Modules, schemas, the app and what start-up read from the database live as long
    as the process, yet each full collection of Python's cyclic collector walked all of them while
    every request waited: 50-80 ms at a time at ~150,000 objects, the slowest reads of the
    reads bench (docs/BENCHMARKS.md). What requests and polls allocate later is collected at
    `GC_THRESHOLDS`."""
    gc.collect()
    gc.freeze()
    metrics.GC_FROZEN.set(gc.get_freeze_count())
    gc.set_threshold(*GC_THRESHOLDS)
    for generation, threshold in enumerate(GC_THRESHOLDS):
        metrics.GC_THRESHOLD.labels(str(generation)).set(threshold)


def time_gc_pauses() -> None:
    """Show how long each garbage collection stops the process (crmhub_gc_pause_seconds)."""
    started = [0.0]

    def timed(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            metrics.GC_PAUSE.labels(str(info["generation"])).observe(time.perf_counter() - started[0])

    gc.callbacks.append(timed)


def serve(settings: HubSettings, build_app: Callable[[], FastAPI]) -> None:
    """The process entry point: JSON logs, then uvicorn on the configured port until SIGTERM/SIGINT."""
    configure_logging(settings.service_name, settings.log_level)
    time_gc_pauses()
    uvicorn.run(
        build_app(),
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        access_log=False,
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        timeout_graceful_shutdown=20,
        # An idle keep-alive connection is closed by the server only after its clients and proxies
        # have given up on it (their idle timeouts are shorter: httpx 5 s, nginx upstream 60 s):
        # closed at the same moment a client reuses it, the request would get no answer at all.
        timeout_keep_alive=settings.keep_alive_seconds,
        # beyond this many connections and requests at once the service answers 503 at once
        # instead of queueing without bound
        limit_concurrency=settings.max_concurrency,
    )
