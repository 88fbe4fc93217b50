"""Common Chinese surnames: the Hundred Family Surnames (百家姓) and frequent modern ones.

A handful of rare surnames that are everyday words (有, 空, 通, 法, ...) are left out: a value starting with
them is far more often a word than a name.
"""

from __future__ import annotations

from typing import Final

_SINGLE = (
    "赵钱孙李周吴郑王冯陈褚卫蒋沈韩杨朱秦尤许何吕施张孔曹严华金魏陶姜戚谢邹喻柏窦章云苏潘葛奚范彭郎"
    "鲁韦昌马苗凤花方俞任袁柳酆鲍史唐费廉岑薛雷贺倪汤滕殷罗毕郝邬安常乐于时傅皮卞齐康伍余元卜顾孟平黄"
    "和穆萧尹姚邵湛汪祁毛禹狄米贝明臧计伏成戴谈宋茅庞熊纪舒屈项祝董梁杜阮蓝闵席季麻强贾路娄危江童颜郭"
    "梅盛林刁钟徐邱骆高夏蔡田樊胡凌霍虞万支柯昝管卢莫房裘缪干解应宗丁宣贲邓郁单杭洪包诸左石崔吉钮龚"
    "程嵇邢滑裴陆荣翁荀羊惠甄曲封芮羿储靳汲邴糜松井段富巫乌焦巴弓牧隗山谷车侯宓蓬全郗班仰秋仲伊宫"
    "宁仇栾暴甘钭厉戎祖武符刘景詹束龙叶幸司韶郜黎蓟薄印宿白怀蒲邰从鄂索咸籍赖卓蔺屠蒙池乔阴鬱胥苍双"
    "闻莘党翟谭贡劳逄姬申扶堵冉宰郦雍郤璩桑桂濮牛寿边扈燕冀郏浦尚农温庄晏柴瞿阎充慕连茹习宦艾鱼容"
    "向古易慎戈廖庾暨居衡步都耿满弘匡国文寇广禄阙东欧殳沃利蔚越夔隆师巩厍聂晁勾敖融冷訾辛阚那简饶"
    "曾毋沙乜鞠丰巢关蒯相查荆红游竺权逯盖桓公晋楚闫汝鄢涂钦归海岳帅缑亢况郈琴牟佘佴墨哈谯笪阳佟"
    # Frequent today but outside the classic text, or written with a simplified variant.
    "覃冼邝谌仝区阿银玉苟母衣闭由但呼冶战鲜信丛兰门占揭植奉粟盘练麦豆朴漆卿初芦鹿辜亓修智展檀尧付肖"
    "凃谷苑迟甄鄢栗原南位楼郜花屠普晁来敬芮宣伏平狄井禹廉盖阚商刁隋敖虞鞠匡查池麻佘巩惠荆冀乐蔺官邸赫宾尉斯"
)

_COMPOUND = (
    "万俟 司马 上官 欧阳 夏侯 诸葛 闻人 东方 赫连 皇甫 尉迟 公羊 澹台 公冶 宗政 濮阳 淳于 单于 太叔 申屠 "
    "公孙 仲孙 轩辕 令狐 钟离 宇文 长孙 慕容 鲜于 闾丘 司徒 司空 亓官 司寇 子车 颛孙 端木 巫马 公西 漆雕 "
    "乐正 壤驷 公良 拓跋 夹谷 宰父 谷梁 段干 百里 东郭 南门 呼延 羊舌 微生 梁丘 左丘 东门 西门 伯赏 南宫"
)

SINGLE_SURNAMES: Final = frozenset(_SINGLE)
COMPOUND_SURNAMES: Final = frozenset(_COMPOUND.split())
