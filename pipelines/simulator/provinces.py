"""The 31 mainland provinces buyers come from, and the spellings real exports use for them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Province:
    code: str  # ISO 3166-2:CN
    name: str  # short Chinese name
    full_name: str  # official name with its suffix
    pinyin: str
    gb_prefix: str  # first two digits of the GB/T 2260 division code
    population_m: float  # 2020 census, millions


PROVINCES: tuple[Province, ...] = (
    Province("CN-BJ", "北京", "北京市", "Beijing", "11", 21.9),
    Province("CN-TJ", "天津", "天津市", "Tianjin", "12", 13.9),
    Province("CN-HE", "河北", "河北省", "Hebei", "13", 74.6),
    Province("CN-SX", "山西", "山西省", "Shanxi", "14", 34.9),
    Province("CN-NM", "内蒙古", "内蒙古自治区", "Nei Mongol", "15", 24.0),
    Province("CN-LN", "辽宁", "辽宁省", "Liaoning", "21", 42.6),
    Province("CN-JL", "吉林", "吉林省", "Jilin", "22", 24.1),
    Province("CN-HL", "黑龙江", "黑龙江省", "Heilongjiang", "23", 31.9),
    Province("CN-SH", "上海", "上海市", "Shanghai", "31", 24.9),
    Province("CN-JS", "江苏", "江苏省", "Jiangsu", "32", 84.7),
    Province("CN-ZJ", "浙江", "浙江省", "Zhejiang", "33", 64.6),
    Province("CN-AH", "安徽", "安徽省", "Anhui", "34", 61.0),
    Province("CN-FJ", "福建", "福建省", "Fujian", "35", 41.5),
    Province("CN-JX", "江西", "江西省", "Jiangxi", "36", 45.2),
    Province("CN-SD", "山东", "山东省", "Shandong", "37", 101.5),
    Province("CN-HA", "河南", "河南省", "Henan", "41", 99.4),
    Province("CN-HB", "湖北", "湖北省", "Hubei", "42", 57.8),
    Province("CN-HN", "湖南", "湖南省", "Hunan", "43", 66.4),
    Province("CN-GD", "广东", "广东省", "Guangdong", "44", 126.0),
    Province("CN-GX", "广西", "广西壮族自治区", "Guangxi", "45", 50.1),
    Province("CN-HI", "海南", "海南省", "Hainan", "46", 10.1),
    Province("CN-CQ", "重庆", "重庆市", "Chongqing", "50", 32.1),
    Province("CN-SC", "四川", "四川省", "Sichuan", "51", 83.7),
    Province("CN-GZ", "贵州", "贵州省", "Guizhou", "52", 38.6),
    Province("CN-YN", "云南", "云南省", "Yunnan", "53", 47.2),
    Province("CN-XZ", "西藏", "西藏自治区", "Xizang", "54", 3.6),
    Province("CN-SN", "陕西", "陕西省", "Shaanxi", "61", 39.5),
    Province("CN-GS", "甘肃", "甘肃省", "Gansu", "62", 25.0),
    Province("CN-QH", "青海", "青海省", "Qinghai", "63", 5.9),
    Province("CN-NX", "宁夏", "宁夏回族自治区", "Ningxia", "64", 7.2),
    Province("CN-XJ", "新疆", "新疆维吾尔自治区", "Xinjiang", "65", 25.9),
)

REGION_CODES: tuple[str, ...] = tuple(p.code for p in PROVINCES)

# Richer coastal provinces spend more online per head than their population alone suggests.
_SPENDING_BOOST = {"CN-BJ": 1.4, "CN-SH": 1.4, "CN-GD": 1.3, "CN-ZJ": 1.3, "CN-JS": 1.2}


def buyer_share() -> np.ndarray:
    """1. Weight provinces by population; 2. boost the online-spending coastal ones; 3. sum to 1."""
    weights = np.array(
        [p.population_m * _SPENDING_BOOST.get(p.code, 1.0) for p in PROVINCES], dtype=np.float64
    )
    return weights / weights.sum()
