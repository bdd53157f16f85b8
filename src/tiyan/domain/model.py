"""The canonical data model: the one definition of every table tiyan reads.

Validation (:mod:`tiyan.ingest.validate`), storage DDL (:mod:`tiyan.store`), the simulator
and the generated ``docs/data-model.md`` all read this module; nothing else declares a
column.

Conventions:

* Timestamps are stored as naive ``TIMESTAMP`` values **in UTC**. Input may carry an offset;
  a naive input timestamp is read in the platform time zone (default Asia/Shanghai).
* Money is ``DECIMAL(18,2)`` in the platform currency (yuan, ¥).
* No personal data in plaintext: consumers are pseudonymous ids with a region and a risk tier.
* Enumerations are of two kinds. A **closed** column (channel, status, cancelled_by, the
  after-sales type and reason, ...) holds only tiyan's codes, because a metric, rule or
  decision tests its values: anything else is rejected. A **descriptive** column
  (``Column.descriptive``: store type, risk tier, cancel reason, contact topic) is a label
  that real exports spell their own way: ``allowed`` lists tiyan's codes, and any other
  value is kept as given, with an ``unlisted_value`` warning. Whatever tests such a column
  tests it for a code by equality, so a source's own label never counts as a code.

Example::

    >>> from tiyan.domain.model import TABLES
    >>> TABLES["orders"].primary_key
    ('order_id',)
    >>> TABLES["orders"].column("channel").allowed
    ('live', 'video', 'shelf', 'search', 'store')
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class ColumnType(StrEnum):
    """Logical column types; each store maps them to its own SQL type."""

    STRING = "string"
    INT = "int"
    MONEY = "money"
    FLOAT = "float"
    BOOL = "bool"
    TIMESTAMP = "timestamp"
    DATE = "date"


@dataclass(frozen=True)
class Reference:
    """A foreign key: the value must name a row of ``table`` (in the batch or the store)."""

    table: str
    column: str


@dataclass(frozen=True)
class Column:
    """One column of a canonical table."""

    name: str
    type: ColumnType
    meaning: str
    zh: str = ""
    required: bool = False
    allowed: tuple[str, ...] | None = None
    #: ``allowed`` lists tiyan's codes of a descriptive label: a value outside them is kept as
    #: given, with a warning, instead of rejecting the row (module docstring).
    descriptive: bool = False
    minimum: float | None = None
    maximum: float | None = None
    references: Reference | None = None


@dataclass(frozen=True)
class TimeOrder:
    """``later`` must not be earlier than ``earlier``.

    ``earlier`` names a column of the same row, or ``"<table>.<column>"`` of the row that the
    reference column ``via`` points at (for example a shipment's pickup against its order's
    payment time).
    """

    later: str
    earlier: str
    via: str | None = None
    why: str = ""


@dataclass(frozen=True)
class Table:
    """One canonical table."""

    name: str
    zh: str
    meaning: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    time_order: tuple[TimeOrder, ...] = ()
    kind: str = "fact"  # entity | fact | simulation | system
    #: The row's own time (for date ranges and, later, metric windows).
    time_column: str | None = None
    notes: tuple[str, ...] = field(default=())

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(f"{self.name} has no column {name!r}")

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def references(self) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if c.references is not None)


S, I, M, F, B, T, D = (  # noqa: E741 - one-letter aliases keep the column tables readable
    ColumnType.STRING,
    ColumnType.INT,
    ColumnType.MONEY,
    ColumnType.FLOAT,
    ColumnType.BOOL,
    ColumnType.TIMESTAMP,
    ColumnType.DATE,
)

CATEGORIES = ("apparel", "beauty", "food", "electronics", "home", "jewellery", "baby", "sports")
STORE_TYPES = ("flagship", "specialty", "franchise", "individual")
CHANNELS = ("live", "video", "shelf", "search", "store")
ORDER_STATUSES = ("paid", "shipped", "signed", "completed", "cancelled")
CANCELLED_BY = ("consumer", "merchant", "platform", "system")
CANCEL_REASONS = (
    "out_of_stock",
    "unable_to_ship",
    "consumer_request",
    "price_error",
    "risk_control",
    "unpaid_timeout",
    "other",
)
RISK_TIERS = ("premium", "ordinary", "watch", "blocked")
AFTER_SALE_TYPES = ("refund_only", "return_refund", "exchange")
AFTER_SALE_REASONS = (
    "quality",
    "not_as_described",
    "damaged",
    "logistics",
    "no_reason_7d",
    "other",
)
MERCHANT_DECISIONS = ("approve", "reject")
RESOLUTIONS = ("refunded", "exchanged", "rejected", "withdrawn")
RESOLVED_BY = ("merchant", "timeout", "platform")
LIABILITIES = ("merchant", "consumer", "carrier", "platform", "none")
COMPLAINT_TYPES = ("shipping", "fake_shipment", "quality", "service", "false_marketing", "other")
CONTACT_TOPICS = ("logistics", "refund", "quality", "service", "account", "other")
ARCHETYPES = (
    "good",
    "slow_shipper",
    "fake_shipper",
    "malicious_non_shipper",
    "fake_inventory",
    "presale_abuser",
    "passive_service",
    "low_quality",
)

_MERCHANT = Reference("merchants", "merchant_id")
_PRODUCT = Reference("products", "product_id")
_CONSUMER = Reference("consumers", "consumer_id")
_ORDER = Reference("orders", "order_id")

MERCHANTS = Table(
    name="merchants",
    zh="商家",
    meaning="A merchant (shop) selling on the platform.",
    kind="entity",
    time_column="opened_at",
    primary_key=("merchant_id",),
    columns=(
        Column("merchant_id", S, "Merchant id.", "商家ID", required=True),
        Column("name", S, "Shop name.", "店铺名称", required=True),
        Column(
            "category",
            S,
            "Main category (行业), the peer group for scoring.",
            "主营类目",
            required=True,
        ),
        Column(
            "store_type",
            S,
            "Store type; the policy's provisional score of a new merchant is looked up by it "
            "(a type it does not name gets the default).",
            "店铺类型",
            allowed=STORE_TYPES,
            descriptive=True,
        ),
        Column("region", S, "Province the merchant ships from.", "发货地区"),
        Column("opened_at", T, "When the shop opened.", "开店时间"),
    ),
)

PRODUCTS = Table(
    name="products",
    zh="商品",
    meaning="A product listing of a merchant.",
    kind="entity",
    primary_key=("product_id",),
    columns=(
        Column("product_id", S, "Product id.", "商品ID", required=True),
        Column(
            "merchant_id", S, "Merchant selling it.", "商家ID", required=True, references=_MERCHANT
        ),
        Column("category", S, "Product category.", "类目", required=True),
        Column("title", S, "Listing title (checked later for false marketing).", "商品标题"),
        Column("description", S, "Listing description.", "商品描述"),
        Column("price", M, "Current selling price.", "售价", minimum=0),
        Column("list_price", M, "List (strike-through) price.", "划线价", minimum=0),
        Column(
            "presale_days",
            I,
            "Presale period in days; null means in stock (现货).",
            "预售天数",
            minimum=1,
            maximum=365,
        ),
        Column(
            "ship_promise_hours",
            I,
            "Promised hours from payment to pickup.",
            "承诺发货时效(小时)",
            minimum=1,
            maximum=24 * 365,
        ),
    ),
)

CONSUMERS = Table(
    name="consumers",
    zh="消费者",
    meaning="A consumer, pseudonymous: no name, phone or address is ever stored in plaintext.",
    kind="entity",
    time_column="registered_at",
    primary_key=("consumer_id",),
    columns=(
        Column("consumer_id", S, "Pseudonymous consumer id.", "用户ID", required=True),
        Column("region", S, "Province.", "地区"),
        Column(
            "risk_tier",
            S,
            "Risk tier, which bounds express refunds (only the tiers the policy's "
            "`tier_limits` name get one).",
            "风险等级",
            allowed=RISK_TIERS,
            descriptive=True,
        ),
        Column("registered_at", T, "Registration time.", "注册时间"),
    ),
)

ORDERS = Table(
    name="orders",
    zh="订单",
    meaning="A paid order of one merchant (one row per order; lifecycle times as columns).",
    time_column="paid_at",
    primary_key=("order_id",),
    columns=(
        Column("order_id", S, "Order id.", "订单号", required=True),
        Column("merchant_id", S, "Merchant.", "商家ID", required=True, references=_MERCHANT),
        Column("product_id", S, "Product (main item).", "商品ID", references=_PRODUCT),
        Column("consumer_id", S, "Consumer.", "用户ID", references=_CONSUMER),
        Column("channel", S, "Sales channel.", "成交渠道", allowed=CHANNELS),
        Column("quantity", I, "Items.", "件数", minimum=1),
        Column("amount", M, "Amount paid by the consumer.", "实付金额", required=True, minimum=0),
        Column(
            "paid_at",
            T,
            "Payment time; the clock for every shipping deadline.",
            "支付时间",
            required=True,
        ),
        Column(
            "promised_ship_by", T, "Deadline for the first carrier scan (pickup).", "承诺发货时间"
        ),
        Column(
            "promised_delivery_by", T, "Promised (estimated) delivery date, if any.", "承诺送达时间"
        ),
        Column(
            "presale", B, "Presale order (pickup deadline is the presale deadline).", "预售订单"
        ),
        Column(
            "is_gift", B, "Gift or lucky-bag order (福袋/赠品), excluded from scores.", "赠品订单"
        ),
        Column("status", S, "Current status.", "订单状态", required=True, allowed=ORDER_STATUSES),
        Column("cancelled_at", T, "Cancellation time.", "取消时间"),
        Column("cancelled_by", S, "Who cancelled.", "取消方", allowed=CANCELLED_BY),
        Column(
            "cancel_reason",
            S,
            "Why: a code (out_of_stock marks fake inventory, unable_to_ship a merchant's "
            "refusal to ship) or the source's own words, which count as no code.",
            "取消原因",
            allowed=CANCEL_REASONS,
            descriptive=True,
        ),
        Column("signed_at", T, "Signed for by the consumer.", "签收时间"),
        Column("completed_at", T, "Completed (confirmed receipt).", "确认收货时间"),
        Column("creator_id", S, "Creator (达人) who sold it, if any.", "达人ID"),
    ),
    time_order=(
        TimeOrder("promised_ship_by", "paid_at", why="a ship deadline before payment"),
        TimeOrder("cancelled_at", "paid_at"),
        TimeOrder("signed_at", "paid_at"),
        TimeOrder("completed_at", "paid_at"),
    ),
)

SHIPMENTS = Table(
    name="shipments",
    zh="发货",
    meaning="A parcel of an order (an order may ship in several; the first pickup counts).",
    time_column="shipped_at",
    primary_key=("shipment_id",),
    columns=(
        Column("shipment_id", S, "Shipment id.", "包裹ID", required=True),
        Column("order_id", S, "Order.", "订单号", required=True, references=_ORDER),
        Column(
            "carrier",
            S,
            "Carrier code (ZTO, YTO, YUNDA, JT, SF, EMS, ...).",
            "快递公司",
            required=True,
        ),
        Column("tracking_no", S, "Tracking number.", "运单号", required=True),
        Column(
            "shipped_at",
            T,
            "Tracking number uploaded by the merchant (not yet a pickup).",
            "发货时间(上传单号)",
        ),
        Column("pickup_at", T, "First carrier scan.", "揽收时间"),
        Column("signed_at", T, "Signed for.", "签收时间"),
        Column("destination_region", S, "Destination province.", "收货地区"),
    ),
    time_order=(
        TimeOrder("signed_at", "pickup_at", why="signed before the carrier picked it up"),
        TimeOrder(
            "pickup_at", "orders.paid_at", via="order_id", why="picked up before the order was paid"
        ),
    ),
    notes=(
        "shipped_at before the order's paid_at is accepted on purpose: it is evidence of "
        "fake shipment (虚假发货), which the policy engine detects.",
    ),
)

TRACKING_EVENTS = Table(
    name="tracking_events",
    zh="物流轨迹",
    meaning="One carrier scan of a tracking number: the evidence for fake shipment.",
    time_column="event_at",
    primary_key=("carrier", "tracking_no", "event_at", "status"),
    columns=(
        Column("tracking_no", S, "Tracking number.", "运单号", required=True),
        Column("carrier", S, "Carrier code.", "快递公司", required=True),
        Column("event_at", T, "Scan time.", "轨迹时间", required=True),
        Column(
            "status",
            S,
            "Scan status.",
            "轨迹状态",
            required=True,
            allowed=(
                "pickup",
                "in_transit",
                "arrived",
                "out_for_delivery",
                "signed",
                "exception",
                "returned",
            ),
        ),
        Column("region", S, "Province of the scan.", "所在地区"),
    ),
)

AFTER_SALES = Table(
    name="after_sales",
    zh="售后",
    meaning="An after-sales case (refund, return, exchange) of an order.",
    time_column="requested_at",
    primary_key=("case_id",),
    columns=(
        Column("case_id", S, "Case id.", "售后单号", required=True),
        Column("order_id", S, "Order.", "订单号", required=True, references=_ORDER),
        Column("type", S, "Case type.", "售后类型", required=True, allowed=AFTER_SALE_TYPES),
        Column(
            "reason", S, "Consumer's reason.", "售后原因", required=True, allowed=AFTER_SALE_REASONS
        ),
        Column("requested_at", T, "Requested.", "申请时间", required=True),
        Column("amount", M, "Amount requested.", "申请金额", minimum=0),
        Column("merchant_responded_at", T, "Merchant's first response.", "商家处理时间"),
        Column(
            "merchant_decision",
            S,
            "Merchant's decision.",
            "商家处理结果",
            allowed=MERCHANT_DECISIONS,
        ),
        Column("return_tracking_no", S, "Return parcel tracking number.", "退货运单号"),
        Column("resolved_at", T, "Closed.", "完结时间"),
        Column("resolution", S, "Outcome.", "完结结果", allowed=RESOLUTIONS),
        Column("resolved_by", S, "Who closed it.", "完结方", allowed=RESOLVED_BY),
        Column("platform_intervened", B, "Platform arbitration (平台介入).", "平台介入"),
        Column("liability", S, "Liability as judged.", "判责", allowed=LIABILITIES),
        Column("express", B, "Paid as an express refund (极速退).", "极速退款"),
    ),
    time_order=(
        TimeOrder("merchant_responded_at", "requested_at"),
        TimeOrder("resolved_at", "requested_at"),
        TimeOrder(
            "requested_at",
            "orders.paid_at",
            via="order_id",
            why="after-sales requested before the order was paid",
        ),
    ),
)

CS_SESSIONS = Table(
    name="cs_sessions",
    zh="客服会话",
    meaning="An IM session between a consumer and the merchant's customer service (飞鸽).",
    time_column="started_at",
    primary_key=("session_id",),
    columns=(
        Column("session_id", S, "Session id.", "会话ID", required=True),
        Column("merchant_id", S, "Merchant.", "商家ID", required=True, references=_MERCHANT),
        Column("consumer_id", S, "Consumer.", "用户ID", references=_CONSUMER),
        Column("order_id", S, "Order it is about, if any.", "订单号", references=_ORDER),
        Column(
            "started_at",
            T,
            "First consumer message to human service.",
            "会话开始时间",
            required=True,
        ),
        Column(
            "first_response_at", T, "First human reply; null = never answered.", "首次人工回复时间"
        ),
        Column("ended_at", T, "Session end.", "会话结束时间"),
        Column(
            "rating",
            I,
            "Consumer's rating, 1 (dissatisfied) to 5.",
            "满意度评价",
            minimum=1,
            maximum=5,
        ),
    ),
    time_order=(
        TimeOrder("first_response_at", "started_at"),
        TimeOrder("ended_at", "started_at"),
    ),
)

REVIEWS = Table(
    name="reviews",
    zh="评价",
    meaning="A product review of an order (the first one per order counts for scores).",
    time_column="created_at",
    primary_key=("review_id",),
    columns=(
        Column("review_id", S, "Review id.", "评价ID", required=True),
        Column("order_id", S, "Order.", "订单号", required=True, references=_ORDER),
        Column("merchant_id", S, "Merchant.", "商家ID", required=True, references=_MERCHANT),
        Column("product_id", S, "Product.", "商品ID", references=_PRODUCT),
        Column(
            "rating",
            I,
            "Stars, 1–5 (1–2 is a negative review, 差评).",
            "评分",
            required=True,
            minimum=1,
            maximum=5,
        ),
        Column("text", S, "Review text.", "评价内容"),
        Column("created_at", T, "Posted.", "评价时间", required=True),
    ),
    time_order=(
        TimeOrder(
            "created_at", "orders.paid_at", via="order_id", why="reviewed before the order was paid"
        ),
    ),
)

COMPLAINTS = Table(
    name="complaints",
    zh="投诉",
    meaning="A consumer complaint to the platform about a merchant.",
    time_column="created_at",
    primary_key=("complaint_id",),
    columns=(
        Column("complaint_id", S, "Complaint id.", "投诉ID", required=True),
        Column("order_id", S, "Order, if any.", "订单号", references=_ORDER),
        Column("merchant_id", S, "Merchant.", "商家ID", required=True, references=_MERCHANT),
        Column("consumer_id", S, "Consumer.", "用户ID", references=_CONSUMER),
        Column("type", S, "Complaint type.", "投诉类型", required=True, allowed=COMPLAINT_TYPES),
        Column("created_at", T, "Filed.", "投诉时间", required=True),
        Column("upheld", B, "Upheld on review (成立).", "投诉成立"),
    ),
)

PLATFORM_CONTACTS = Table(
    name="platform_contacts",
    zh="平台进线",
    meaning="A consumer contact with platform customer service (for CPO).",
    time_column="created_at",
    primary_key=("contact_id",),
    columns=(
        Column("contact_id", S, "Contact id.", "进线ID", required=True),
        Column("consumer_id", S, "Consumer.", "用户ID", references=_CONSUMER),
        Column("order_id", S, "Order, if any.", "订单号", references=_ORDER),
        Column("merchant_id", S, "Merchant, if any.", "商家ID", references=_MERCHANT),
        Column(
            "topic",
            S,
            "Topic.",
            "进线原因",
            required=True,
            allowed=CONTACT_TOPICS,
            descriptive=True,
        ),
        Column("created_at", T, "When.", "进线时间", required=True),
    ),
)

SURVEYS = Table(
    name="surveys",
    zh="满意度调研",
    meaning="An NPS survey answer (0–10: 9–10 promoter, 0–6 detractor).",
    time_column="created_at",
    primary_key=("response_id",),
    columns=(
        Column("response_id", S, "Response id.", "问卷ID", required=True),
        Column("consumer_id", S, "Consumer.", "用户ID", references=_CONSUMER),
        Column("merchant_id", S, "Merchant asked about, if any.", "商家ID", references=_MERCHANT),
        Column("order_id", S, "Order, if any.", "订单号", references=_ORDER),
        Column(
            "score",
            I,
            "Likelihood to recommend, 0–10.",
            "推荐意愿",
            required=True,
            minimum=0,
            maximum=10,
        ),
        Column("created_at", T, "Answered.", "作答时间", required=True),
    ),
)

SIM_TRUTH = Table(
    name="sim_truth",
    zh="模拟真值",
    meaning=(
        "Ground truth of the simulator: each simulated merchant's archetype, and how much "
        "misconduct it actually committed in the generated orders (a detector can only find "
        "what happened)."
    ),
    kind="simulation",
    primary_key=("merchant_id",),
    columns=(
        Column("merchant_id", S, "Merchant.", "商家ID", required=True, references=_MERCHANT),
        Column(
            "archetype",
            S,
            "Behaviour the simulator gave it.",
            "商家类型",
            required=True,
            allowed=ARCHETYPES,
        ),
        Column("seed", I, "Simulation seed.", "随机种子"),
        Column(
            "burst_cancellations",
            I,
            "Orders the merchant cancelled on its burst days (malicious non-shipment).",
            "爆发日商家取消单数",
            minimum=0,
        ),
        Column(
            "fake_shipments",
            I,
            "Orders given a fake shipment: a number never scanned, scanned days late, or "
            "another order's.",
            "虚假发货单数",
            minimum=0,
        ),
        Column(
            "out_of_stock_cancellations",
            I,
            "Orders the merchant cancelled as out of stock (fake inventory when many).",
            "缺货取消单数",
            minimum=0,
        ),
    ),
)

#: Every canonical table, in load order (a table's references come before it).
TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        MERCHANTS,
        CONSUMERS,
        PRODUCTS,
        ORDERS,
        SHIPMENTS,
        TRACKING_EVENTS,
        AFTER_SALES,
        CS_SESSIONS,
        REVIEWS,
        COMPLAINTS,
        PLATFORM_CONTACTS,
        SURVEYS,
        SIM_TRUTH,
    )
}


def get_table(name: str) -> Table:
    """The canonical table ``name``, or an error that suggests the closest name."""
    from tiyan.domain.errors import UnknownTableError

    try:
        return TABLES[name]
    except KeyError:
        raise UnknownTableError(name, list(TABLES)) from None


INGEST_LOG = Table(
    name="ingest_log",
    zh="导入日志",
    meaning="One row per (load, source, table): the reconciliation read = accepted + quarantined.",
    kind="system",
    time_column="finished_at",
    primary_key=("load_id", "source", "table_name"),
    columns=(
        Column("load_id", S, "Load id (one per `tiyan ingest` run).", required=True),
        Column("source", S, "Source file (or mapping:query).", required=True),
        Column("checksum", S, "SHA-256 of the source file's bytes."),
        Column("table_name", S, "Canonical table.", required=True),
        Column(
            "status",
            S,
            "loaded, or rejected (reject rate above the limit: no data written).",
            required=True,
        ),
        Column("read_rows", I, "Rows read.", required=True),
        Column("inserted", I, "New rows.", required=True),
        Column("updated", I, "Rows that changed an existing row.", required=True),
        Column("unchanged", I, "Rows equal to the stored row.", required=True),
        Column("quarantined", I, "Rows rejected into quarantine.", required=True),
        Column("mapping", S, "Mapping used, if any."),
        Column("started_at", T, "Load start (UTC)."),
        Column("finished_at", T, "Load end (UTC)."),
    ),
)

QUARANTINE = Table(
    name="quarantine",
    zh="隔离区",
    meaning="Every rejected input row, with where it came from and why.",
    kind="system",
    time_column="quarantined_at",
    primary_key=("quarantine_id",),
    columns=(
        Column(
            "quarantine_id",
            S,
            "Deterministic id: the same bad row loaded twice is one entry.",
            required=True,
        ),
        Column("load_id", S, "Last load that rejected it.", required=True),
        Column(
            "table_name",
            S,
            "Canonical table; for a malformed line of a mapping's source file, "
            "source:<the mapping's name for that source>.",
            required=True,
        ),
        Column("source", S, "Source file (or mapping:query).", required=True),
        Column(
            "line",
            I,
            "CSV/JSONL: line in the file (header is line 1); Parquet: row number; "
            "mapping: row of the query result.",
            required=True,
        ),
        Column("column_name", S, "Column of the first problem (null for a malformed line)."),
        Column(
            "reason_code",
            S,
            "Machine-readable reason (missing_value, bad_type, ...).",
            required=True,
        ),
        Column("reason", S, "The first problem, in words.", required=True),
        Column("problems", S, "All problems of the row, as a JSON list.", required=True),
        Column("raw", S, "The raw record as read (JSON object, or the raw line).", required=True),
        Column("quarantined_at", T, "When (UTC)."),
    ),
)

SCHEMA_META = Table(
    name="tiyan_meta",
    zh="元数据",
    meaning="Store metadata: the schema version the store is at.",
    kind="system",
    primary_key=("key",),
    columns=(
        Column("key", S, "Key.", required=True),
        Column("value", S, "Value.", required=True),
    ),
)

#: Tables the store keeps for itself (not loaded by ingestion).
SYSTEM_TABLES: dict[str, Table] = {t.name: t for t in (INGEST_LOG, QUARANTINE, SCHEMA_META)}

METRIC_DAILY = Table(
    name="metric_daily",
    zh="指标日汇总",
    meaning="Daily partial aggregates: one metric's numerator and denominator sums for one "
    "merchant and one local day. Windows are sums of these.",
    kind="governance",
    primary_key=("metric_id", "merchant_id", "day"),
    columns=(
        Column("metric_id", S, "Metric (see docs/metrics.md).", "指标", required=True),
        Column(
            "merchant_id",
            S,
            "Merchant; empty for records about no merchant (platform totals only).",
            "商家ID",
            required=True,
        ),
        Column("day", D, "Local day the records count on (their anchor).", "日期", required=True),
        Column("num", F, "Sum of the numerator.", "分子", required=True),
        Column("den", F, "Sum of the denominator.", "分母", required=True),
    ),
)

METRIC_VALUES = Table(
    name="metric_values",
    zh="指标值",
    meaning="A metric over a window for a merchant, a category or the platform, as of a date.",
    kind="governance",
    time_column="as_of",
    primary_key=("as_of", "window_days", "metric_id", "scope", "subject_id"),
    columns=(
        Column(
            "as_of", D, "The run date; the window ends the day before.", "统计日", required=True
        ),
        Column("window_days", I, "Window length in days.", "窗口天数", required=True),
        Column("metric_id", S, "Metric.", "指标", required=True),
        Column("scope", S, "merchant, category or platform.", "范围", required=True),
        Column("subject_id", S, "Merchant id, category, or 'all'.", "对象", required=True),
        Column("window_start", D, "First day of the window.", "窗口开始", required=True),
        Column("window_end", D, "Last day of the window.", "窗口结束", required=True),
        Column("numerator", F, "Numerator over the window.", "分子", required=True),
        Column("denominator", F, "Denominator over the window.", "分母", required=True),
        Column(
            "value", F, "scale × numerator / denominator; null when the denominator is 0.", "值"
        ),
    ),
)

SCORES = Table(
    name="scores",
    zh="商家体验分",
    meaning="The Merchant Experience Score of a merchant as of a date, with its explanation.",
    kind="governance",
    time_column="as_of",
    primary_key=("as_of", "window_days", "merchant_id"),
    columns=(
        Column("as_of", D, "The run date.", "统计日", required=True),
        Column("window_days", I, "Window length in days.", "窗口天数", required=True),
        Column("merchant_id", S, "Merchant.", "商家ID", required=True),
        Column("category", S, "Peer group category.", "类目"),
        Column("status", S, "scored or insufficient_data.", "状态", required=True),
        Column("valid_orders", I, "Valid orders in the window.", "有效订单量", required=True),
        Column("score", F, "Overall score, 0–100 (null when not scored).", "体验分"),
        Column("product", F, "Product dimension, 0–100.", "商品体验"),
        Column("logistics", F, "Logistics dimension, 0–100.", "物流体验"),
        Column("service", F, "Service dimension, 0–100.", "服务体验"),
        Column("display_score", F, "The 5-point score consumers see.", "展示分(5分制)"),
        Column("level", S, "excellent, good, fair, poor or critical.", "等级"),
        Column(
            "provisional_score",
            F,
            "Shown instead while a new merchant has too few orders (by store type).",
            "新商家初始分",
        ),
        Column("policy_version", S, "Policy version that scored it.", "规则版本", required=True),
        Column("explanation", S, "Per-metric detail and top improvements, as JSON.", "解读"),
    ),
)

VIOLATIONS = Table(
    name="violations",
    zh="违规记录",
    meaning="A violation a detector decided: the rule, the merchant, what it is about and the "
    "evidence. Append-only: a run never changes or deletes one (appeals reverse their "
    "consequences in the ledger).",
    kind="governance",
    time_column="occurred_at",
    primary_key=("violation_id",),
    columns=(
        Column(
            "violation_id",
            S,
            "Deterministic: rule:merchant:subject, so detecting it again changes nothing.",
            "违规单号",
            required=True,
        ),
        Column("rule_id", S, "Rule (policy `rules`, docs/policy.md).", "规则", required=True),
        Column("ledger", S, "Points ledger: A general, B serious.", "违规类型", required=True),
        Column("merchant_id", S, "Merchant.", "商家ID", required=True),
        Column(
            "subject",
            S,
            "What it is about: an order or case id, or day:/week: and the period's first day.",
            "违规对象",
            required=True,
        ),
        Column("order_id", S, "The order, for order-level rules.", "订单号"),
        Column(
            "occurred_at",
            T,
            "When it became a violation (its deadline).",
            "违规时间",
            required=True,
        ),
        Column(
            "day", D, "Local day of occurred_at (the period's last day).", "违规日期", required=True
        ),
        Column("amount", F, "The order's paid amount (for compensation).", "实付金额"),
        Column("evidence", S, "The facts that prove it, as JSON.", "证据", required=True),
        Column("policy_version", S, "Policy version in force.", "规则版本", required=True),
        Column(
            "detected_as_of", D, "as_of of the run that first found it.", "发现日", required=True
        ),
    ),
)

ACTIONS = Table(
    name="actions",
    zh="处置台账",
    meaning="The ledger of consequences: consumer compensation, violation points, penalties "
    "(later privileges and reversals). Append-only: nothing is changed or deleted; an appeal "
    "adds reversal entries.",
    kind="governance",
    time_column="day",
    primary_key=("action_id",),
    columns=(
        Column(
            "action_id",
            S,
            "Deterministic: kind and what it is for (a violation, a ladder node).",
            "处置单号",
            required=True,
        ),
        Column(
            "kind",
            S,
            "compensation, points, penalty or reversal (an appeal accepted).",
            "处置类型",
            required=True,
        ),
        Column("merchant_id", S, "Merchant.", "商家ID", required=True),
        Column("violation_id", S, "The violation it answers, if any.", "违规单号"),
        Column("rule_id", S, "The violation's rule, if any.", "规则"),
        Column("ledger", S, "Points ledger: A or B (points and penalties).", "积分类型"),
        Column("points", F, "Points awarded (0 when a cap was reached).", "扣分"),
        Column(
            "amount", M, "Compensation to the consumer (¥), from the merchant's funds.", "赔付金额"
        ),
        Column(
            "measure",
            S,
            "Penalty measure: warning, rules_exam, deposit_deduction, suspension or clearance.",
            "处罚措施",
        ),
        Column(
            "day",
            D,
            "Local day it counts on (the violation's, or the run's).",
            "日期",
            required=True,
        ),
        Column("as_of", D, "as_of of the run that recorded it.", "处置日", required=True),
        Column("policy_version", S, "Policy version in force.", "规则版本", required=True),
        Column(
            "detail",
            S,
            "Why, as JSON (order, paid amount, cap, ladder node...).",
            "说明",
            required=True,
        ),
    ),
)

APPEALS = Table(
    name="appeals",
    zh="申诉",
    meaning="A merchant's appeal against one of its violations, and the operator's decision. "
    "An accepted appeal writes reversal entries to `actions`.",
    kind="governance",
    time_column="created_at",
    primary_key=("appeal_id",),
    columns=(
        Column("appeal_id", S, "appeal:<violation id>:<n>.", "申诉单号", required=True),
        Column("violation_id", S, "The violation appealed.", "违规单号", required=True),
        Column("merchant_id", S, "Merchant.", "商家ID", required=True),
        Column("status", S, "open, accepted or rejected.", "状态", required=True),
        Column("statement", S, "The merchant's statement.", "申诉说明", required=True),
        Column("evidence", S, "Evidence offered (references, text).", "申诉证据"),
        Column("created_at", T, "When it was filed.", "申诉时间", required=True),
        Column("decided_at", T, "When it was decided.", "处理时间"),
        Column("decided_by", S, "Who decided.", "处理人"),
        Column("reason", S, "Why, in the operator's words.", "处理理由"),
    ),
)

RECTIFICATION = Table(
    name="rectification",
    zh="整改跟踪",
    meaning="For each penalty in force, the metric it targets before and after the penalty "
    "day (derived from metric_daily; rewritten by each enforcement run).",
    kind="governance",
    time_column="penalty_day",
    primary_key=("penalty_id",),
    columns=(
        Column(
            "penalty_id", S, "The penalty action (its first measure).", "处罚单号", required=True
        ),
        Column("merchant_id", S, "Merchant.", "商家ID", required=True),
        Column("ledger", S, "A or B.", "积分类型", required=True),
        Column(
            "rule_id",
            S,
            "The rule that gave most of the year's points.",
            "主要违规规则",
            required=True,
        ),
        Column("metric_id", S, "The metric that rule moves.", "目标指标", required=True),
        Column("penalty_day", D, "Day of the penalty.", "处罚日期", required=True),
        Column("days", I, "Length of the before and after windows.", "窗口天数", required=True),
        Column("before", F, "Value over the days before the penalty day.", "处罚前"),
        Column(
            "after", F, "Value over the days after it (empty until they have passed).", "处罚后"
        ),
        Column("measured_as_of", D, "as_of of the run that measured it.", "统计日", required=True),
    ),
)

SHADOW_OUTCOMES = Table(
    name="shadow_outcomes",
    zh="影子策略结果",
    meaning="What a candidate policy run in shadow mode would have done, per merchant, over "
    "the lookback of an enforcement run, beside the live policy (nothing of it is enforced).",
    kind="governance",
    time_column="as_of",
    primary_key=("as_of", "policy_version", "merchant_id"),
    columns=(
        Column("as_of", D, "The enforcement run's date.", "统计日", required=True),
        Column(
            "policy_version", S, "The candidate (shadow) policy.", "影子规则版本", required=True
        ),
        Column("live_version", S, "The live policy beside it.", "现行规则版本", required=True),
        Column("merchant_id", S, "Merchant.", "商家ID", required=True),
        Column(
            "violations_live", I, "Violations under the live policy.", "现行违规数", required=True
        ),
        Column(
            "violations_shadow", I, "Violations under the candidate.", "影子违规数", required=True
        ),
        Column("points_a_live", F, "A points, live.", "现行A类积分", required=True),
        Column("points_a_shadow", F, "A points, candidate.", "影子A类积分", required=True),
        Column("points_b_live", F, "B points, live.", "现行B类积分", required=True),
        Column("points_b_shadow", F, "B points, candidate.", "影子B类积分", required=True),
        Column("compensation_live", F, "Compensation, live (¥).", "现行赔付", required=True),
        Column("compensation_shadow", F, "Compensation, candidate (¥).", "影子赔付", required=True),
        Column("penalty_live", S, "Strictest penalty, live.", "现行处罚"),
        Column("penalty_shadow", S, "Strictest penalty, candidate.", "影子处罚"),
    ),
)

API_KEYS = Table(
    name="api_keys",
    zh="接口密钥",
    meaning="Keys of the HTTP service. Only a hash of the secret is stored; the key itself is "
    "shown once, when it is created (`tiyan keys create`). Revoked keys are kept, marked.",
    kind="service",
    time_column="created_at",
    primary_key=("key_id",),
    columns=(
        Column(
            "key_id", S, "Public part of the key (tk_ and 12 hex digits).", "密钥ID", required=True
        ),
        Column(
            "secret_hash", S, "SHA-256 of the key's secret part, hex.", "密钥摘要", required=True
        ),
        Column(
            "role",
            S,
            "operator (everything), merchant (its own data and appeals) or service (events and "
            "decisions).",
            "角色",
            required=True,
            allowed=("operator", "merchant", "service"),
        ),
        Column("merchant_id", S, "The merchant a merchant key belongs to.", "商家ID"),
        Column("label", S, "Who or what holds it.", "备注"),
        Column("created_at", T, "When it was created.", "创建时间", required=True),
        Column("revoked_at", T, "When it was revoked (empty while valid).", "吊销时间"),
    ),
)

DECISIONS = Table(
    name="decisions",
    zh="决策日志",
    meaning="Every online decision the service made (express refund, presale eligibility, "
    "ship promise): its inputs, outcome, reasons and policy version, for audit and backtests. "
    "Append-only.",
    kind="service",
    time_column="decided_at",
    primary_key=("decision_id",),
    columns=(
        Column("decision_id", S, "Unique id (returned to the caller).", "决策ID", required=True),
        Column(
            "kind",
            S,
            "express_refund, presale or ship_promise.",
            "决策类型",
            required=True,
        ),
        Column("subject", S, "What it is about: an order or a merchant id.", "对象", required=True),
        Column("merchant_id", S, "Merchant concerned.", "商家ID"),
        Column("outcome", S, "The decision (e.g. refund_now, eligible).", "结果", required=True),
        Column("reasons", S, "Why, as a JSON list of {code, message}.", "理由", required=True),
        Column(
            "inputs",
            S,
            "The request and the facts it was decided on, as JSON.",
            "输入",
            required=True,
        ),
        Column("policy_version", S, "Policy version in force.", "规则版本", required=True),
        Column("requested_by", S, "Key id of the caller.", "调用方"),
        Column("decided_at", T, "When it was decided (UTC).", "决策时间", required=True),
    ),
)

EVENT_LOG = Table(
    name="event_log",
    zh="事件回执",
    meaning="Events accepted through the HTTP API, by the caller's event id: a retried event "
    "with an id already here changes nothing. Written in the same transaction as the data.",
    kind="service",
    time_column="received_at",
    primary_key=("event_id",),
    columns=(
        Column("event_id", S, "The caller's id for the event.", "事件ID", required=True),
        Column(
            "type",
            S,
            "Event type (record, order.paid, shipment.picked_up, ...).",
            "事件类型",
            required=True,
        ),
        Column("table_name", S, "Canonical table written.", "表", required=True),
        Column("record_key", S, "Primary key of the row written.", "主键", required=True),
        Column("load_id", S, "The load (ingest_log) that wrote it.", "批次", required=True),
        Column("received_at", T, "When it was accepted (UTC).", "接收时间", required=True),
        Column(
            "content",
            S,
            "The event as accepted ({type, table, data} as JSON): the same id sent again with "
            "other content is a conflict (empty for receipts written before tiyan kept it).",
            "事件内容",
        ),
    ),
)

CONSOLE_SESSIONS = Table(
    name="console_sessions",
    zh="控制台会话",
    meaning="Sessions of the web console: the cookie holds a random session id, of which only "
    "a SHA-256 is stored, mapped to the key that logged in. A session ends at logout, when it "
    "expires, and when its key is revoked.",
    kind="service",
    time_column="created_at",
    primary_key=("session_hash",),
    columns=(
        Column("session_hash", S, "SHA-256 of the session id, hex.", "会话摘要", required=True),
        Column("key_id", S, "The key that logged in.", "密钥ID", required=True),
        Column("created_at", T, "When it was opened (UTC).", "创建时间", required=True),
        Column("expires_at", T, "When it ends at the latest (UTC).", "过期时间", required=True),
        Column("ended_at", T, "When it was ended by logout (empty while open).", "结束时间"),
    ),
)

SERVICE_REQUESTS = Table(
    name="service_requests",
    zh="服务单",
    meaning="Requests to the platform's service desk (docs/service-desk.md). The state is the "
    "request's audit trail (`request_steps`) replayed; it is kept here for listings and "
    "rewritten with each step.",
    kind="desk",
    time_column="created_at",
    primary_key=("request_id",),
    columns=(
        Column("request_id", S, "Request id.", "服务单号", required=True),
        Column("type_id", S, "Request type (policy `desk.types`).", "服务单类型", required=True),
        Column("merchant_id", S, "Merchant it is about.", "商家ID", required=True),
        Column("order_id", S, "Order it is about, if any.", "订单号"),
        Column("consumer_id", S, "Consumer who asked, if any.", "用户ID"),
        Column("case_id", S, "After-sales case it is about, if any.", "售后单号"),
        Column(
            "complaint_id",
            S,
            "Complaint it is about, if filed elsewhere (the desk judges it: upheld or not).",
            "投诉ID",
        ),
        Column("language", S, "Language of the thread (e.g. zh).", "语言", required=True),
        Column("set_hours", F, "The merchant's hours, where the platform sets them.", "约定时限"),
        Column("created_at", T, "Opened (UTC).", "创建时间", required=True),
        Column("state", S, "State after the last step.", "状态", required=True),
        Column("updated_at", T, "Time of the last step (UTC).", "更新时间", required=True),
        # What the trail and the desk's calendar say of the request, rewritten with each
        # step and by `tiyan desk recompute` (a changed calendar recomputes history).
        Column(
            "merchant_due_at",
            T,
            "The merchant's deadline, if it has a running clock.",
            "商家处理时限",
        ),
        Column("merchant_answered_at", T, "The merchant's first answer, if any.", "商家首次答复"),
        Column(
            "merchant_breached",
            B,
            "The merchant's deadline passed unanswered (a late "
            "answer too); false: answered in time; empty: no clock or still running.",
            "商家超时",
        ),
        Column("platform_since", T, "When the request first waited on the platform.", "转平台时间"),
        Column(
            "first_platform_at",
            T,
            "The platform's first step after that (first response).",
            "平台首次响应",
        ),
        Column(
            "resolved_at",
            T,
            "The last resolution, while the request stands resolved or closed (a reopen "
            "empties it until the next).",
            "完结时间",
        ),
        Column(
            "resolved_in_time",
            B,
            "Resolved within the platform's resolution hours "
            "(policy `desk.resolve_hours`); empty while not resolved (as `resolved_at`).",
            "平台按时完结",
        ),
        Column("reopens", I, "Times it was reopened.", "重开次数"),
        Column("liability", S, "The last resolution's liability judgement.", "判责"),
        Column(
            "assigned_to",
            S,
            "The platform agent holding it (by skill and load), if any.",
            "处理客服",
        ),
    ),
)

DESK_AGENTS = Table(
    name="desk_agents",
    zh="平台客服坐席",
    meaning="The platform's agents: what they can take (request categories, languages), how "
    "many requests at once, whether they are online (docs/service-desk.md, routing).",
    kind="desk",
    time_column="updated_at",
    primary_key=("agent_id",),
    columns=(
        Column("agent_id", S, "The agent's API key id (tk_...).", "坐席", required=True),
        Column(
            "categories", S, "Request categories taken, comma-separated.", "技能", required=True
        ),
        Column("languages", S, "Languages, comma-separated (e.g. zh,en).", "语言", required=True),
        Column("max_requests", I, "Requests held at once.", "最大接待量", required=True, minimum=1),
        Column("online", B, "Taking requests now.", "在线", required=True),
        Column("updated_at", T, "Last change (UTC).", "更新时间", required=True),
    ),
)

REQUEST_STEPS = Table(
    name="request_steps",
    zh="服务单轨迹",
    meaning="The audit trail of each request: every transition and message, who and when. "
    "Append-only.",
    kind="desk",
    time_column="step_at",
    primary_key=("request_id", "seq"),
    columns=(
        Column("request_id", S, "Request.", "服务单号", required=True),
        Column("seq", I, "Position in the trail, from 1.", "序号", required=True),
        Column("step_at", T, "When (UTC).", "时间", required=True),
        Column("actor", S, "consumer, merchant, platform or system.", "操作方", required=True),
        Column("actor_id", S, "The key or agent that took it, if any.", "操作人"),
        Column("action", S, "What (docs/service-desk.md).", "动作", required=True),
        Column("note", S, "The message or the reason, if any.", "说明"),
    ),
)

REQUEST_RESOLUTIONS = Table(
    name="request_resolutions",
    zh="服务单处理结果",
    meaning="Each resolution a platform agent recorded (a reopened request may have several): "
    "the outcome, the liability judgement and the amount (docs/service-desk.md).",
    kind="desk",
    time_column="decided_at",
    primary_key=("request_id", "seq"),
    columns=(
        Column("request_id", S, "Request.", "服务单号", required=True),
        Column("seq", I, "Position of its `resolve` step in the trail.", "序号", required=True),
        Column("decided_at", T, "When (UTC).", "处理时间", required=True),
        Column("agent_id", S, "The key or agent that recorded it.", "客服"),
        Column(
            "outcome",
            S,
            "merchant_refunds, compensation, consumer_withdraws or no_fault.",
            "处理结果",
            required=True,
        ),
        Column(
            "liability", S, "merchant, consumer, carrier, platform or none.", "判责", required=True
        ),
        Column("amount", M, "Refund or compensation, if any.", "金额"),
        Column("paid_by", S, "Who pays a compensation: merchant, platform or carrier.", "出资方"),
        Column("note", S, "The agent's note.", "说明"),
        Column("policy_version", S, "Policy in force.", "政策版本", required=True),
    ),
)

REQUEST_CALLBACKS = Table(
    name="request_callbacks",
    zh="回访任务",
    meaning="Callback tasks: the numbers to try (a token and a masked form, never the "
    "digits) and where the task stands; its attempts are `callback_attempts`.",
    kind="desk",
    time_column="created_at",
    primary_key=("task_id",),
    columns=(
        Column("task_id", S, "Task id.", "任务ID", required=True),
        Column("request_id", S, "Request.", "服务单号", required=True),
        Column("created_at", T, "Opened (UTC).", "创建时间", required=True),
        Column(
            "contacts",
            S,
            "The numbers in order, as JSON [{token, masked}].",
            "联系方式",
            required=True,
        ),
        Column("status", S, "pending, reached or exhausted.", "状态", required=True),
        Column("next_at", T, "When to call next (pending).", "下次回访"),
        Column("next_masked", S, "Which number next, masked (pending).", "下次号码"),
    ),
)

CALLBACK_ATTEMPTS = Table(
    name="callback_attempts",
    zh="回访记录",
    meaning="Each call of a callback task: when, which number (its token and masked form), "
    "the outcome. Append-only.",
    kind="desk",
    time_column="attempted_at",
    primary_key=("task_id", "seq"),
    columns=(
        Column("task_id", S, "Task.", "任务ID", required=True),
        Column("seq", I, "Position, from 1.", "序号", required=True),
        Column("attempted_at", T, "When (UTC).", "回访时间", required=True),
        Column("token", S, "The number's token.", "号码令牌", required=True),
        Column("masked", S, "The number, masked.", "号码", required=True),
        Column("outcome", S, "no_answer, busy, reached or wrong_person.", "结果", required=True),
        Column("agent_id", S, "The key or agent that called.", "客服"),
    ),
)

ATTACHMENT_FILES = Table(
    name="attachment_files",
    zh="附件文件",
    meaning="Files attached to requests (photo evidence), stored once by content hash.",
    kind="desk",
    primary_key=("sha256",),
    columns=(
        Column("sha256", S, "SHA-256 of the content (hex).", "哈希", required=True),
        Column(
            "content_type", S, "Media type (image/jpeg, image/png, ...).", "类型", required=True
        ),
        Column("size", I, "Bytes.", "大小", required=True),
        Column("content", S, "The bytes, base64.", "内容", required=True),
    ),
)

REQUEST_ATTACHMENTS = Table(
    name="request_attachments",
    zh="服务单附件",
    meaning="Which files each request carries, who added them and when.",
    kind="desk",
    time_column="added_at",
    primary_key=("request_id", "sha256"),
    columns=(
        Column("request_id", S, "Request.", "服务单号", required=True),
        Column("sha256", S, "The file (`attachment_files`).", "哈希", required=True),
        Column("name", S, "File name as sent.", "文件名", required=True),
        Column("added_at", T, "When (UTC).", "上传时间", required=True),
        Column("actor", S, "consumer, merchant, platform or system.", "上传方", required=True),
        Column("actor_id", S, "The key that added it.", "上传人"),
    ),
)

REQUEST_SURVEYS = Table(
    name="request_surveys",
    zh="服务满意度",
    meaning="The consumer's satisfaction with a resolved request (1–5, optional text).",
    kind="desk",
    time_column="answered_at",
    primary_key=("request_id",),
    columns=(
        Column("request_id", S, "Request.", "服务单号", required=True),
        Column(
            "score",
            I,
            "1 (very dissatisfied) to 5 (very satisfied).",
            "满意度",
            required=True,
            minimum=1,
            maximum=5,
        ),
        Column("comment", S, "The consumer's words, if any.", "评价"),
        Column("answered_at", T, "When (UTC).", "作答时间", required=True),
    ),
)

#: Tables of the platform's service desk (requests and their audit trail, resolutions,
#: callbacks, attachments, surveys).
DESK_TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        SERVICE_REQUESTS,
        REQUEST_STEPS,
        REQUEST_RESOLUTIONS,
        REQUEST_CALLBACKS,
        CALLBACK_ATTEMPTS,
        ATTACHMENT_FILES,
        REQUEST_ATTACHMENTS,
        REQUEST_SURVEYS,
        DESK_AGENTS,
    )
}

#: Tables of the HTTP service (keys, console sessions, the decision log, event receipts).
SERVICE_TABLES: dict[str, Table] = {
    t.name: t for t in (API_KEYS, CONSOLE_SESSIONS, DECISIONS, EVENT_LOG)
}

#: Tables the governance stages write (metrics, scores, violations, the ledger, appeals,
#: rectification, shadow outcomes).
GOVERNANCE_TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        METRIC_DAILY, METRIC_VALUES, SCORES, VIOLATIONS, ACTIONS, APPEALS, RECTIFICATION,
        SHADOW_OUTCOMES,
    )
}  # fmt: skip
