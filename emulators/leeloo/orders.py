"""Orders: generated with their person, opened "now" by simulate, moved through their
statuses (each move kept in the order's history), and served in their shapes."""
from __future__ import annotations

import random

from emulators.base import iso_ms
from emulators.leeloo.account import AccountBase
from emulators.leeloo.entities import Order, Person, hash_int, odd_number, odd_slot, odd_text, weighted_choice
from emulators.leeloo.vocab import (
    CURRENCIES,
    CURRENCY_WEIGHTS,
    DAY,
    OFFERS,
    ORDER_STATUS_WEIGHTS,
    ORDER_STATUSES,
    PAID_STATUSES,
    PAYMENT_METHODS,
    PRICES,
)


class Orders(AccountBase):
    """The account's orders, kept sorted by ``createdAt`` in ``orders``."""

    def _new_order(self, r: random.Random, p: Person, created: int, until: int, *, fresh: bool = False) -> Order:
        o = Order()
        o.idx = self._order_seq
        self._order_seq += 1
        o.person = p
        o.history = None
        o.id = self.oid(created, f"o{o.idx}")
        o.title = r.choice(OFFERS)
        o.description = f"{o.title}: {r.choice(['access for 1 month', 'full course', 'one session', 'PDF', 'ticket'])}"
        if self.hostile:
            o.title = self._hostile(o.idx, o.title) if not fresh else self._hostile_later(o.title)
        o.currency = weighted_choice(r, CURRENCIES, CURRENCY_WEIGHTS)
        o.price = r.choice(PRICES[o.currency])
        o.payment_method = r.choice(PAYMENT_METHODS)
        o.created_ms = created
        if fresh:
            o.status = "OPENED"
            o.updated_ms = created
        else:
            o.status = weighted_choice(r, ORDER_STATUSES, ORDER_STATUS_WEIGHTS)
            o.updated_ms = (created if o.status == "OPENED"
                            else created + int(r.random() * min(14 * DAY, until - created)))
        o.drift = r.random() < 0.10
        p.orders.append(o)
        self.orders.append(o)
        self.order_by_id[o.id] = o
        return o

    def _odd_orders(self) -> None:
        """A few orders' title is a JSON value, a few prices text that is not a number."""
        for k, o in enumerate(self.order_by_id.values()):
            slot = odd_slot(k, 2)
            if slot == 0:
                o.title = odd_text(k)
                self._odd("orders", o.id, "title")
            elif slot == 1:
                o.price = odd_number(k)
                self._odd("orders", o.id, "price")

    # ----------------------------------------------------------------- served shapes
    @staticmethod
    def order_extras(o: Order) -> dict:
        h = hash_int(o.id)
        return {"discount": round((h % 30) / 100, 2), "externalId": f"ext-{h:06x}"}

    def order_price(self, o: Order, drift: bool):
        if drift and o.drift:
            return f"{o.price:.2f}" if isinstance(o.price, float) else str(o.price)
        return o.price

    def included_order(self, o: Order, drift: bool) -> dict:
        return {"id": o.id, "title": o.title, "price": self.order_price(o, drift), "currency": o.currency,
                "status": o.status, "updatedAt": iso_ms(o.updated_ms)}

    def order_item(self, o: Order, drift: bool = False) -> dict:
        d = {"id": o.id, "person_id": o.person.id, "title": o.title, "price": self.order_price(o, drift),
             "currency": o.currency, "status": o.status, "createdAt": iso_ms(o.created_ms),
             "updatedAt": iso_ms(o.updated_ms)}
        if self.extra_fields:
            d.update(self.order_extras(o))
        return d

    def order_detail(self, o: Order, drift: bool = False) -> dict:
        d = {"id": o.id, "createdAt": iso_ms(o.created_ms), "updatedAt": iso_ms(o.updated_ms), "title": o.title,
             "description": o.description, "price": self.order_price(o, drift), "currency": o.currency,
             "status": o.status, "paymentMethod": o.payment_method}
        if self.extra_fields:
            d.update(self.order_extras(o))
        return d

    # ----------------------------------------------------------------- changes (hold the data lock)
    def add_order_now(self, r: random.Random, p: Person) -> Order:
        now = self.clock()
        if self.orders and self.orders[-1].created_ms > now:  # keep the createdAt order
            now = self.orders[-1].created_ms
        o = self._new_order(r, p, now, now, fresh=True)
        p.updated_ms = max(p.updated_ms, now)
        self.version += 1
        return o

    def order_history(self, o: Order) -> list[tuple[str, int]]:
        """(status, ms) from creation on. A generated order was OPENED at createdAt and
        took its status at updatedAt (or was created in it when both are equal)."""
        if o.history is not None:
            return o.history
        if o.status == "OPENED" or o.updated_ms == o.created_ms:
            return [(o.status, o.created_ms)]
        return [("OPENED", o.created_ms), (o.status, o.updated_ms)]

    def set_order_status(self, o: Order, status: str) -> None:
        now = self.clock()
        o.history = [*self.order_history(o)]
        o.status = status
        self.invalidate(o)
        o.updated_ms = max(now, o.updated_ms)
        o.history.append((status, o.updated_ms))
        o.person.updated_ms = max(o.person.updated_ms, o.updated_ms)
        self.version += 1

    def change_order_status(self, r: random.Random, o: Order) -> str:
        self.set_order_status(o, r.choice([s for s in ORDER_STATUSES if s not in {o.status, "OPENED"}]))
        return o.status

    def pay_order(self, r: random.Random, o: Order) -> str:
        self.set_order_status(o, weighted_choice(r, PAID_STATUSES, [70, 30]))
        return o.status
