"""The resources read whole every run: the client list, connected channels, bot blocks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import dlt
from dlt.sources import DltResource

from sources.http import BudgetExhausted
from sources.kit.kinds import Shapes
from sources.kit.listing import SharedListing
from sources.report import SourceReport
from sources.salebot.api import ActionDenied, SalebotApi
from sources.salebot.columns import CLIENT_COLUMNS
from sources.salebot.rows import block_rows, channel_rows, salebot_shapes


def clients_resource(listing: SharedListing[int], shapes: Shapes, report: SourceReport) -> DltResource:
    @dlt.resource(name="clients", primary_key="id", write_disposition="merge", columns=CLIENT_COLUMNS)
    def clients() -> Iterator[list[dict[str, Any]]]:
        """Every client; the list is also what `client_details` plans its work from."""
        rows = list(listing.get().values())
        for i in range(0, len(rows), 1000):
            yield rows[i : i + 1000]
        for message in shapes.warnings():
            report.warn(message)

    return clients


def snapshot_rows(name: str, read: Callable[[Shapes], list[dict[str, Any]]], report: SourceReport,
                  note_permissions: Callable[[], None]) -> Iterator[list[dict[str, Any]]]:
    """One answer's rows; a spent budget or a missing permission leaves the table as it is."""
    shapes = salebot_shapes()
    try:
        yield read(shapes)
    except BudgetExhausted:
        report.spent(name)
    except ActionDenied:
        note_permissions()
    for message in shapes.warnings():
        report.warn(message)


def _channels(api: SalebotApi, shapes: Shapes) -> list[dict[str, Any]]:
    return channel_rows(api.channels(), shapes)


def _blocks(api: SalebotApi, shapes: Shapes) -> list[dict[str, Any]]:
    return block_rows(api.blocks(), shapes)


def channels_resource(api: SalebotApi, report: SourceReport, note_permissions: Callable[[], None]) -> DltResource:
    @dlt.resource(name="channels", primary_key=["messenger", "id"], write_disposition="merge")
    def channels() -> Iterator[list[dict[str, Any]]]:
        """Connected messengers (``connected_channels``), one row per bot."""
        yield from snapshot_rows("channels", partial(_channels, api), report, note_permissions)

    return channels


def blocks_resource(api: SalebotApi, report: SourceReport, note_permissions: Callable[[], None]) -> DltResource:
    @dlt.resource(name="blocks", primary_key="id", write_disposition="merge")
    def blocks() -> Iterator[list[dict[str, Any]]]:
        """Blocks of the bot scheme (``get_messages``); a message's ``message_id`` points here."""
        yield from snapshot_rows("blocks", partial(_blocks, api), report, note_permissions)

    return blocks
