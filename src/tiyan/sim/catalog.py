"""What is sold and how people talk about it: categories, channels, titles and review texts.

Every enumeration comes from :mod:`tiyan.domain.model`; this module only adds the simulator's
weights (shares, prices, return habits) next to each value, in the model's order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from tiyan.domain.model import CATEGORIES, CHANNELS, RISK_TIERS, STORE_TYPES

Arr = npt.NDArray[Any]


@dataclass(frozen=True)
class Category:
    """A category's market share and consumer habits."""

    zh: str
    #: Share of merchants whose main category this is.
    share: float
    #: Median selling price in yuan.
    price: float
    #: Orders returned within 7 days without a reason (apparel is tried on and sent back).
    no_reason_returns: float
    #: Multiplier on the merchant's defect rate (electronics break, food rarely does).
    defect_factor: float
    #: Nouns for listing titles.
    nouns: tuple[str, ...]


CATEGORY_INFO: dict[str, Category] = {
    "apparel": Category("服饰", 0.24, 89.0, 0.12, 1.1, ("连衣裙", "T恤", "牛仔裤", "卫衣", "外套")),
    "beauty": Category("美妆", 0.12, 129.0, 0.03, 0.8, ("面霜", "口红", "精华液", "面膜", "粉底")),
    "food": Category("食品", 0.16, 39.0, 0.01, 0.7, ("坚果礼盒", "牛肉干", "茶叶", "零食", "咖啡")),
    "electronics": Category("数码", 0.08, 399.0, 0.04, 1.4, ("耳机", "充电宝", "手表", "音箱")),
    "home": Category("家居", 0.14, 79.0, 0.04, 1.0, ("四件套", "收纳盒", "拖把", "枕头", "毛巾")),
    "jewellery": Category("珠宝", 0.06, 299.0, 0.05, 1.2, ("手链", "项链", "耳钉", "戒指")),
    "baby": Category("母婴", 0.08, 99.0, 0.03, 0.9, ("纸尿裤", "奶瓶", "童装", "玩具")),
    "sports": Category("运动", 0.12, 149.0, 0.05, 1.0, ("跑鞋", "瑜伽垫", "运动服", "哑铃")),
}
assert tuple(CATEGORY_INFO) == CATEGORIES, "categories must follow the model"

CATEGORY_SHARE: Arr = np.array([c.share for c in CATEGORY_INFO.values()])
CATEGORY_PRICE: Arr = np.array([c.price for c in CATEGORY_INFO.values()])
NO_REASON_RETURNS: Arr = np.array([c.no_reason_returns for c in CATEGORY_INFO.values()])
DEFECT_FACTOR: Arr = np.array([c.defect_factor for c in CATEGORY_INFO.values()])
ELECTRONICS = CATEGORIES.index("electronics")
JEWELLERY = CATEGORIES.index("jewellery")

STORE_TYPE_SHARE: Arr = np.array([0.10, 0.18, 0.14, 0.58])
STORE_TYPE_ZH = ("旗舰店", "专营店", "专卖店", "小店")
assert len(STORE_TYPE_SHARE) == len(STORE_TYPES) == len(STORE_TYPE_ZH)

#: Live streams and short videos sell most on Douyin; the shelf and search follow.
CHANNEL_SHARE: Arr = np.array([0.46, 0.26, 0.14, 0.10, 0.04])
assert len(CHANNEL_SHARE) == len(CHANNELS)
LIVE, VIDEO = CHANNELS.index("live"), CHANNELS.index("video")

RISK_TIER_SHARE: Arr = np.array([0.15, 0.78, 0.06, 0.01])
assert len(RISK_TIER_SHARE) == len(RISK_TIERS)
PREMIUM, ORDINARY, WATCH, BLOCKED = range(4)

#: Items per order: mostly one.
QUANTITY_SHARE: Arr = np.array([0.78, 0.14, 0.05, 0.02, 0.01])

SHOP_WORDS = ("优品", "悦享", "臻选", "好物", "小鹿", "星辰", "云朵", "初心", "山野", "暖阳")
BRAND_WORDS = ("家", "坊", "记", "社", "堂", "铺", "馆", "集")
TITLE_WORDS = ("新款", "爆款", "经典", "升级版", "加厚", "轻薄", "大容量", "便携")
#: Exaggerated claims a false-marketing check looks for (最, 第一, 100%, ...).
HYPE_WORDS = ("全网最低价", "第一品牌", "100%纯天然", "国家级", "顶级奢华")
DESCRIPTION_WORDS = ("品质保障，支持七天无理由退货", "现货速发", "工厂直供", "官方正品")


def _texts() -> tuple[tuple[str, ...], ...]:
    """Review texts by stars (index 0 = 1★); bad ones name what went wrong."""
    return (
        ("质量太差了，不推荐", "等了很久才发货，差评", "和描述完全不符", "一直没收到货"),
        ("质量一般，有点失望", "发货太慢了", "做工粗糙", "客服不回消息"),
        ("一般般", "中规中矩", "还行吧，物流有点慢", "凑合用"),
        ("还不错，性价比高", "挺好的，就是物流慢了点", "满意，会回购", "包装不错"),
        ("质量很好，物流很快", "非常满意，会回购", "包装精美，和描述一致", "好评，推荐购买"),
    )


REVIEW_TEXTS = _texts()
TEXTS_PER_RATING = len(REVIEW_TEXTS[0])
assert all(len(t) == TEXTS_PER_RATING for t in REVIEW_TEXTS)
#: Star distributions (1★..5★) by experience: fine, late, defective, never properly shipped.
RATING_SHARE: Arr = np.array(
    [
        [0.01, 0.01, 0.03, 0.12, 0.83],
        [0.05, 0.06, 0.14, 0.25, 0.50],
        [0.40, 0.22, 0.18, 0.10, 0.10],
        [0.45, 0.20, 0.15, 0.10, 0.10],
    ]
)
FINE, LATE, DEFECTIVE, FAKED = range(4)
