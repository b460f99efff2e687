"""What the simulated platform sells, who supplies it, and which merchants sell it.

The catalogue is real 卡盟 structure: brands with their face values, card keys (卡密) held in
stock beside direct top-ups (直充) fulfilled through a supplier's API. Each product line says
from which scale on it is listed, so `small` keeps the best-known items of every category and
`large` adds the long tail (more face values, 慢充 and second-source listings).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipelines.simulator.provinces import PROVINCES, buyer_share

SCALE_RANK = {"small": 0, "medium": 1, "large": 2}

CATEGORIES = (
    "game_card",
    "mobile_topup",
    "data_topup",
    "video_vip",
    "software_license",
    "gift_card",
)

# Price elasticity ranges by category (sku-level value drawn uniformly inside).
ELASTICITY_RANGE = {
    "game_card": (-5.0, -2.5),
    "mobile_topup": (-8.0, -4.0),
    "data_topup": (-8.0, -4.0),
    "video_vip": (-4.0, -2.0),
    "software_license": (-3.0, -1.2),
    "gift_card": (-6.0, -3.0),
}
REGIONAL_ELASTICITY_SD = 0.3


@dataclass(frozen=True)
class SupplierSpec:
    supplier_id: str
    name: str
    delivery_type: str
    lead_time_hours: float
    min_order_qty: int
    batch_size: int
    min_scale: int = 0


SUPPLIERS: tuple[SupplierSpec, ...] = (
    SupplierSpec("SUP-01", "星河卡密批发", "card_key", 24, 100, 50),
    SupplierSpec("SUP-02", "盛通一卡通代理", "card_key", 48, 50, 50),
    SupplierSpec("SUP-03", "影音权益供应链", "card_key", 72, 50, 10),
    SupplierSpec("SUP-04", "正版软件授权中心", "card_key", 120, 10, 10),
    SupplierSpec("SUP-05", "环球礼品卡行", "card_key", 96, 20, 20),
    SupplierSpec("SUP-06", "快鸟卡源", "card_key", 36, 200, 100, min_scale=2),
    # Direct top-up suppliers hold a prepaid balance; their lead time is how long a balance
    # top-up takes to land, and they take any quantity.
    SupplierSpec("SUP-11", "福达直充", "direct_topup", 2, 1, 1),
    SupplierSpec("SUP-12", "三网话费通", "direct_topup", 2, 1, 1),
    SupplierSpec("SUP-13", "游戏直充云", "direct_topup", 4, 1, 1),
    SupplierSpec("SUP-14", "影音会员直充", "direct_topup", 4, 1, 1, min_scale=1),
    SupplierSpec("SUP-15", "慢充宝", "direct_topup", 24, 1, 1, min_scale=2),
)


@dataclass(frozen=True)
class ProductLine:
    category: str
    brand: str
    code: str
    name: str  # "{label}" is replaced by the face label
    delivery_type: str
    supplier_id: str
    shelf_life_days: int  # 0 = keys do not expire (or direct top-up)
    price_ratio: tuple[float, float]  # list price / face value at launch
    cost_ratio: tuple[float, float]  # unit cost / list price at launch
    popularity: float
    faces: tuple[tuple[float, str, str, int, float], ...]  # face, label, code, min_scale, weight


def _faces(*items):
    return tuple(items)


PRODUCT_LINES: tuple[ProductLine, ...] = (
    # --- game cards and game top-ups
    ProductLine(
        "game_card",
        "Q币",
        "QB-CARD",
        "腾讯Q币卡 {label}",
        "card_key",
        "SUP-01",
        365,
        (0.97, 0.99),
        (0.96, 0.975),
        3.0,
        _faces(
            (10, "10元", "10", 0, 1.2),
            (30, "30元", "30", 0, 1.0),
            (50, "50元", "50", 1, 0.5),
            (100, "100元", "100", 0, 0.8),
            (200, "200元", "200", 2, 0.2),
        ),
    ),
    ProductLine(
        "game_card",
        "Q币",
        "QB-DIRECT",
        "Q币直充 {label}",
        "direct_topup",
        "SUP-13",
        0,
        (0.98, 1.0),
        (0.965, 0.98),
        1.5,
        _faces(
            (10, "10元", "10", 1, 1.0), (50, "50元", "50", 1, 0.6), (100, "100元", "100", 2, 0.4)
        ),
    ),
    ProductLine(
        "game_card",
        "王者荣耀",
        "WZRY-DQ",
        "王者荣耀点券 {label}",
        "direct_topup",
        "SUP-13",
        0,
        (0.93, 0.97),
        (0.94, 0.96),
        2.5,
        _faces(
            (6, "60点券", "60", 1, 0.8),
            (30, "300点券", "300", 0, 1.0),
            (68, "680点券", "680", 0, 0.7),
            (128, "1280点券", "1280", 1, 0.35),
            (328, "3280点券", "3280", 2, 0.12),
        ),
    ),
    ProductLine(
        "game_card",
        "网易一卡通",
        "NETEASE",
        "网易一卡通 {label}",
        "card_key",
        "SUP-02",
        180,
        (0.92, 0.96),
        (0.95, 0.97),
        1.2,
        _faces(
            (15, "15元", "15", 1, 0.6),
            (30, "30元", "30", 0, 1.0),
            (50, "50元", "50", 1, 0.5),
            (100, "100元", "100", 0, 0.6),
        ),
    ),
    ProductLine(
        "game_card",
        "骏网一卡通",
        "JCARD",
        "骏网一卡通(J卡) {label}",
        "card_key",
        "SUP-02",
        365,
        (0.94, 0.97),
        (0.95, 0.97),
        0.7,
        _faces(
            (10, "10元", "10", 1, 0.7),
            (30, "30元", "30", 0, 1.0),
            (100, "100元", "100", 1, 0.5),
            (500, "500元", "500", 2, 0.08),
        ),
    ),
    ProductLine(
        "game_card",
        "盛大一卡通",
        "SNDA",
        "盛大一卡通 {label}",
        "card_key",
        "SUP-02",
        365,
        (0.93, 0.96),
        (0.95, 0.97),
        0.4,
        _faces((30, "30元", "30", 1, 1.0), (100, "100元", "100", 2, 0.5)),
    ),
    ProductLine(
        "game_card",
        "完美一卡通",
        "WANMEI",
        "完美一卡通 {label}",
        "card_key",
        "SUP-06",
        180,
        (0.93, 0.96),
        (0.95, 0.97),
        0.3,
        _faces((30, "30元", "30", 2, 1.0), (100, "100元", "100", 2, 0.5)),
    ),
    ProductLine(
        "game_card",
        "原神",
        "GENSHIN",
        "原神 创世结晶 {label}",
        "direct_topup",
        "SUP-13",
        0,
        (0.94, 0.97),
        (0.94, 0.96),
        1.2,
        _faces(
            (30, "300结晶", "300", 0, 1.0),
            (98, "980结晶", "980", 1, 0.6),
            (198, "1980结晶", "1980", 2, 0.3),
            (648, "6480结晶", "6480", 1, 0.25),
        ),
    ),
    ProductLine(
        "game_card",
        "和平精英",
        "HPJY",
        "和平精英 点券 {label}",
        "direct_topup",
        "SUP-13",
        0,
        (0.94, 0.97),
        (0.94, 0.96),
        0.9,
        _faces((30, "300点券", "300", 1, 1.0), (68, "680点券", "680", 2, 0.6)),
    ),
    # --- phone credit (话费), always direct top-up, priced at or just under face value
    ProductLine(
        "mobile_topup",
        "中国移动",
        "CMCC",
        "中国移动话费 {label}",
        "direct_topup",
        "SUP-12",
        0,
        (0.985, 1.0),
        (0.96, 0.975),
        6.0,
        _faces(
            (30, "30元", "30", 0, 0.5),
            (50, "50元", "50", 0, 1.0),
            (100, "100元", "100", 0, 1.6),
            (200, "200元", "200", 0, 0.45),
        ),
    ),
    ProductLine(
        "mobile_topup",
        "中国联通",
        "CUCC",
        "中国联通话费 {label}",
        "direct_topup",
        "SUP-12",
        0,
        (0.985, 1.0),
        (0.96, 0.975),
        2.5,
        _faces(
            (30, "30元", "30", 1, 0.5),
            (50, "50元", "50", 0, 1.0),
            (100, "100元", "100", 0, 1.3),
            (200, "200元", "200", 1, 0.35),
        ),
    ),
    ProductLine(
        "mobile_topup",
        "中国电信",
        "CTCC",
        "中国电信话费 {label}",
        "direct_topup",
        "SUP-11",
        0,
        (0.985, 1.0),
        (0.96, 0.975),
        2.0,
        _faces(
            (30, "30元", "30", 1, 0.5),
            (50, "50元", "50", 0, 1.0),
            (100, "100元", "100", 0, 1.2),
            (200, "200元", "200", 1, 0.3),
        ),
    ),
    # 慢充 (slow top-up within 72 h) sells well under face value: the buyer waits for a discount.
    ProductLine(
        "mobile_topup",
        "中国移动",
        "CMCC-SLOW",
        "中国移动话费慢充72小时 {label}",
        "direct_topup",
        "SUP-15",
        0,
        (0.93, 0.95),
        (0.95, 0.97),
        1.5,
        _faces((100, "100元", "100", 2, 1.0), (200, "200元", "200", 2, 0.5)),
    ),
    ProductLine(
        "mobile_topup",
        "中国联通",
        "CUCC-SLOW",
        "中国联通话费慢充72小时 {label}",
        "direct_topup",
        "SUP-15",
        0,
        (0.93, 0.95),
        (0.95, 0.97),
        0.7,
        _faces(
            (100, "100元", "100", 2, 1.0),
        ),
    ),
    # --- data packs (流量包)
    ProductLine(
        "data_topup",
        "中国移动",
        "CMCC-DATA",
        "中国移动流量包 {label}",
        "direct_topup",
        "SUP-11",
        0,
        (0.97, 1.0),
        (0.95, 0.97),
        1.5,
        _faces(
            (10, "5GB七天包", "5G7D", 0, 1.0),
            (30, "10GB月包", "10G30D", 0, 0.8),
            (50, "20GB月包", "20G30D", 1, 0.4),
            (5, "1GB日包", "1G1D", 2, 0.5),
        ),
    ),
    ProductLine(
        "data_topup",
        "中国联通",
        "CUCC-DATA",
        "中国联通流量包 {label}",
        "direct_topup",
        "SUP-11",
        0,
        (0.97, 1.0),
        (0.95, 0.97),
        0.7,
        _faces((10, "5GB七天包", "5G7D", 1, 1.0), (30, "10GB月包", "10G30D", 1, 0.8)),
    ),
    ProductLine(
        "data_topup",
        "中国电信",
        "CTCC-DATA",
        "中国电信流量包 {label}",
        "direct_topup",
        "SUP-11",
        0,
        (0.97, 1.0),
        (0.95, 0.97),
        0.6,
        _faces((10, "5GB七天包", "5G7D", 0, 1.0), (30, "10GB月包", "10G30D", 2, 0.8)),
    ),
    # --- video memberships: activation codes (激活码) in stock, some 直充 listings
    ProductLine(
        "video_vip",
        "爱奇艺",
        "IQIYI",
        "爱奇艺黄金VIP {label}",
        "card_key",
        "SUP-03",
        90,
        (0.72, 0.85),
        (0.86, 0.9),
        2.2,
        _faces((25, "月卡", "M", 0, 1.0), (68, "季卡", "Q", 0, 0.45), (218, "年卡", "Y", 0, 0.25)),
    ),
    ProductLine(
        "video_vip",
        "腾讯视频",
        "TXVIDEO",
        "腾讯视频VIP {label}",
        "card_key",
        "SUP-03",
        90,
        (0.72, 0.85),
        (0.86, 0.9),
        2.4,
        _faces((30, "月卡", "M", 0, 1.0), (75, "季卡", "Q", 0, 0.4), (258, "年卡", "Y", 0, 0.2)),
    ),
    ProductLine(
        "video_vip",
        "优酷",
        "YOUKU",
        "优酷VIP {label}",
        "card_key",
        "SUP-03",
        90,
        (0.68, 0.82),
        (0.86, 0.9),
        1.2,
        _faces((25, "月卡", "M", 0, 1.0), (68, "季卡", "Q", 1, 0.4), (198, "年卡", "Y", 1, 0.2)),
    ),
    ProductLine(
        "video_vip",
        "哔哩哔哩",
        "BILI",
        "哔哩哔哩大会员 {label}",
        "card_key",
        "SUP-03",
        90,
        (0.75, 0.88),
        (0.86, 0.9),
        1.6,
        _faces((25, "月卡", "M", 0, 1.0), (68, "季卡", "Q", 1, 0.4), (168, "年卡", "Y", 0, 0.3)),
    ),
    ProductLine(
        "video_vip",
        "芒果TV",
        "MGTV",
        "芒果TV VIP {label}",
        "card_key",
        "SUP-03",
        90,
        (0.7, 0.82),
        (0.86, 0.9),
        0.6,
        _faces((25, "月卡", "M", 2, 1.0), (168, "年卡", "Y", 2, 0.3)),
    ),
    ProductLine(
        "video_vip",
        "腾讯视频",
        "TXVIDEO-DIRECT",
        "腾讯视频VIP直充 {label}",
        "direct_topup",
        "SUP-14",
        0,
        (0.8, 0.9),
        (0.9, 0.93),
        1.0,
        _faces((30, "月卡", "M", 1, 1.0), (75, "季卡", "Q", 2, 0.4)),
    ),
    ProductLine(
        "video_vip",
        "爱奇艺",
        "IQIYI-DIRECT",
        "爱奇艺黄金VIP直充 {label}",
        "direct_topup",
        "SUP-14",
        0,
        (0.8, 0.9),
        (0.9, 0.93),
        0.9,
        _faces(
            (25, "月卡", "M", 1, 1.0),
        ),
    ),
    # --- software licences
    ProductLine(
        "software_license",
        "WPS",
        "WPS",
        "WPS超级会员 {label}",
        "card_key",
        "SUP-04",
        365,
        (0.7, 0.85),
        (0.8, 0.88),
        0.8,
        _faces((179, "年卡", "Y", 0, 1.0), (30, "月卡", "M", 1, 0.8)),
    ),
    ProductLine(
        "software_license",
        "Microsoft",
        "M365",
        "Microsoft 365 个人版 {label}",
        "card_key",
        "SUP-04",
        0,
        (0.7, 0.82),
        (0.8, 0.88),
        0.6,
        _faces((398, "1年", "1Y", 0, 1.0), (498, "家庭版1年", "FAM1Y", 2, 0.4)),
    ),
    ProductLine(
        "software_license",
        "Microsoft",
        "OFFICE",
        "Office 2021 家庭和学生版 {label}",
        "card_key",
        "SUP-04",
        0,
        (0.6, 0.75),
        (0.78, 0.86),
        0.3,
        _faces(
            (748, "永久激活码", "HS2021", 1, 1.0),
        ),
    ),
    ProductLine(
        "software_license",
        "Microsoft",
        "WIN11",
        "Windows 11 {label}",
        "card_key",
        "SUP-04",
        0,
        (0.55, 0.7),
        (0.78, 0.86),
        0.25,
        _faces((1088, "专业版密钥", "PRO", 1, 1.0), (888, "家庭版密钥", "HOME", 2, 0.6)),
    ),
    ProductLine(
        "software_license",
        "百度网盘",
        "BDPAN",
        "百度网盘超级会员 {label}",
        "card_key",
        "SUP-04",
        180,
        (0.75, 0.88),
        (0.85, 0.9),
        0.6,
        _faces((30, "月卡", "M", 1, 1.0), (268, "年卡", "Y", 2, 0.3)),
    ),
    # --- gift cards
    ProductLine(
        "gift_card",
        "Steam",
        "STEAM",
        "Steam钱包充值码 {label}",
        "card_key",
        "SUP-05",
        0,
        (0.97, 1.0),
        (0.95, 0.97),
        1.3,
        _faces(
            (50, "50元", "50", 1, 0.9),
            (100, "100元", "100", 0, 1.0),
            (200, "200元", "200", 1, 0.5),
            (500, "500元", "500", 2, 0.15),
        ),
    ),
    ProductLine(
        "gift_card",
        "App Store",
        "APPSTORE",
        "App Store充值卡 {label}",
        "card_key",
        "SUP-05",
        0,
        (0.96, 0.99),
        (0.95, 0.97),
        1.4,
        _faces(
            (50, "50元", "50", 1, 0.9),
            (100, "100元", "100", 0, 1.0),
            (200, "200元", "200", 1, 0.5),
            (500, "500元", "500", 2, 0.15),
        ),
    ),
    ProductLine(
        "gift_card",
        "京东E卡",
        "JDE",
        "京东E卡 {label}",
        "card_key",
        "SUP-05",
        0,
        (0.97, 0.995),
        (0.96, 0.975),
        0.9,
        _faces(
            (100, "100元", "100", 0, 1.0),
            (200, "200元", "200", 1, 0.5),
            (500, "500元", "500", 2, 0.25),
        ),
    ),
)

# The platform's best seller at every scale: never launched late, never discontinued. Tests
# and benches use it as "the heavy seller".
HEAVY_SELLER = "CMCC-100"


@dataclass(frozen=True)
class Catalogue:
    """One entry per SKU (parallel arrays)."""

    sku_id: np.ndarray
    name: np.ndarray
    category: np.ndarray
    brand: np.ndarray
    face_value: np.ndarray
    delivery_type: np.ndarray
    supplier_id: np.ndarray
    shelf_life_days: np.ndarray  # 0 = none
    price_ratio: np.ndarray
    cost_ratio: np.ndarray
    popularity: np.ndarray
    launch_day: np.ndarray  # first day on sale (index into the calendar)
    end_day: np.ndarray  # first day no longer on sale (n_days if still active)
    is_niche: np.ndarray  # slow, intermittent seller with an absolute small rate
    elasticity: np.ndarray  # sku-level true elasticity

    def __len__(self) -> int:
        return len(self.sku_id)

    @property
    def is_card_key(self) -> np.ndarray:
        return self.delivery_type == "card_key"

    @property
    def active(self) -> np.ndarray:
        return self.end_day >= self.n_days_total

    n_days_total: int = 0


def build_catalogue(scale: str, rng: np.random.Generator, history_days: int, n_days: int):
    """1. List the product lines' face values open at this scale; 2. draw launch price and
    cost ratios and popularity; 3. launch some SKUs mid-history and discontinue others;
    4. mark the slow intermittent sellers; 5. draw each SKU's true elasticity."""
    rank = SCALE_RANK[scale]
    rows = []
    for line in PRODUCT_LINES:
        for face, label, code, min_scale, weight in line.faces:
            if min_scale <= rank:
                rows.append((line, face, label, code, weight))
    n = len(rows)
    sku_id = np.array([f"{line.code}-{code}" for line, _, _, code, _ in rows])
    category = np.array([line.category for line, *_ in rows])
    uniform = rng.random((n, 4))
    price_ratio = np.array(
        [
            lo + (hi - lo) * u
            for (line, *_), u in zip(rows, uniform[:, 0], strict=True)
            for lo, hi in [line.price_ratio]
        ]
    )
    cost_ratio = np.array(
        [
            lo + (hi - lo) * u
            for (line, *_), u in zip(rows, uniform[:, 1], strict=True)
            for lo, hi in [line.cost_ratio]
        ]
    )
    popularity = np.array([line.popularity * weight for line, _, _, _, weight in rows])
    popularity *= rng.lognormal(0.0, 0.5, n)
    heavy = sku_id == HEAVY_SELLER
    popularity[heavy] = popularity.max() * 2.5

    # Lifecycle: ~12% launched during the history, ~8% discontinued before its end.
    launch_day = np.zeros(n, dtype=np.int64)
    end_day = np.full(n, n_days, dtype=np.int64)
    lifecycle = rng.random(n)
    launched = (lifecycle < 0.12) & ~heavy
    discontinued = (lifecycle > 0.92) & ~heavy
    launch_day[launched] = rng.integers(60, history_days - 90, launched.sum())
    end_day[discontinued] = rng.integers(200, history_days - 30, discontinued.sum())

    # The least popular fifth sell a handful a day at any scale: intermittent demand.
    is_niche = popularity <= np.quantile(popularity, 0.2)

    elasticity = np.array(
        [
            ELASTICITY_RANGE[c][0] + (ELASTICITY_RANGE[c][1] - ELASTICITY_RANGE[c][0]) * u
            for c, u in zip(category, uniform[:, 2], strict=True)
        ]
    )
    return Catalogue(
        sku_id=sku_id,
        name=np.array([line.name.format(label=label) for line, _, label, _, _ in rows]),
        category=category,
        brand=np.array([line.brand for line, *_ in rows]),
        face_value=np.array([float(face) for _, face, *_ in rows]),
        delivery_type=np.array([line.delivery_type for line, *_ in rows]),
        supplier_id=np.array([line.supplier_id for line, *_ in rows]),
        shelf_life_days=np.array([line.shelf_life_days for line, *_ in rows], dtype=np.int64),
        price_ratio=price_ratio,
        cost_ratio=cost_ratio,
        popularity=popularity,
        launch_day=launch_day,
        end_day=end_day,
        is_niche=is_niche,
        elasticity=np.round(elasticity, 3),
        n_days_total=n_days,
    )


def suppliers_for(scale: str) -> tuple[SupplierSpec, ...]:
    return tuple(s for s in SUPPLIERS if s.min_scale <= SCALE_RANK[scale])


MERCHANT_COUNT = {"small": 30, "medium": 240, "large": 1200}
TIERS = ("site", "agent", "sub_agent")
_NAME_HEADS = (
    "星辰",
    "龙腾",
    "极速",
    "天天",
    "金牛",
    "蓝鲸",
    "火狐",
    "飞鱼",
    "云端",
    "八方",
    "优品",
    "诚信",
    "鑫源",
    "速达",
    "乐享",
    "易购",
    "聚点",
    "卡宝",
    "好运",
    "至尊",
    "闪电",
    "九州",
)
_NAME_TAILS = ("卡盟", "发卡网", "数卡商城", "游戏充值店", "点卡专营", "代充工作室", "虚拟商城")


@dataclass(frozen=True)
class Merchants:
    merchant_id: np.ndarray
    name: np.ndarray
    tier: np.ndarray
    parent_index: np.ndarray  # -1 = top-level site
    home_region: np.ndarray  # index into PROVINCES
    size: np.ndarray  # relative sales weight (Pareto: a few large, many small)
    joined_day: np.ndarray  # index into the calendar; negative = before the history
    api_share: np.ndarray  # share of orders through the merchant's API (agents buy in bulk)

    def __len__(self) -> int:
        return len(self.merchant_id)


def build_merchants(scale: str, rng: np.random.Generator, history_days: int) -> Merchants:
    """1. Draw heavy-tailed sizes; 2. make the largest ~8% top-level sites, about a third
    agents under a site and the rest sub-agents under an agent; 3. place each in a home
    province by population; 4. let ~15% join during the history."""
    n = MERCHANT_COUNT[scale]
    size = np.sort(rng.pareto(1.6, n) + 1.0)[::-1]
    n_sites = max(3, round(n * 0.08))
    n_agents = max(5, round(n * 0.3))
    tier = np.array(
        ["site"] * n_sites + ["agent"] * n_agents + ["sub_agent"] * (n - n_sites - n_agents)
    )
    parent = np.full(n, -1, dtype=np.int64)
    parent[n_sites : n_sites + n_agents] = rng.integers(0, n_sites, n_agents)
    parent[n_sites + n_agents :] = rng.integers(n_sites, n_sites + n_agents, n - n_sites - n_agents)
    home = rng.choice(len(PROVINCES), size=n, p=buyer_share())
    joined = rng.integers(-5 * 365, -30, n)
    late = (rng.random(n) < 0.15) & (np.arange(n) >= n_sites)
    joined[late] = rng.integers(30, history_days - 60, late.sum())
    names, seen = [], set()
    for i in range(n):
        base = (
            PROVINCES[home[i]].name
            + _NAME_HEADS[rng.integers(len(_NAME_HEADS))]
            + _NAME_TAILS[rng.integers(len(_NAME_TAILS))]
        )
        name = base if base not in seen else f"{base}{i}"
        seen.add(name)
        names.append(name)
    api_share = np.where(tier == "site", 0.05, np.where(tier == "agent", 0.3, 0.15))
    api_share = np.clip(api_share * rng.lognormal(0, 0.4, n), 0.0, 0.8)
    return Merchants(
        merchant_id=np.array([f"M{i + 1:05d}" for i in range(n)]),
        name=np.array(names),
        tier=tier,
        parent_index=parent,
        home_region=home,
        size=size,
        joined_day=joined,
        api_share=api_share,
    )
