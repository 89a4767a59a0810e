"""What the scenarios share: watching a topic from its current end."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, TopicPartition

from crmhub.kafka import end_offsets


async def consumer_at_end(kafka: str, topic: str) -> AIOKafkaConsumer:
    """A started consumer (no group) that will read only what `topic` receives from now on."""
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka, enable_auto_commit=False)
    await consumer.start()
    ends = await end_offsets(kafka, topic)
    consumer.assign([TopicPartition(topic, p) for p in ends])
    for partition, offset in ends.items():
        consumer.seek(TopicPartition(topic, partition), offset)
    return consumer
