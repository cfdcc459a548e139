"""Plain-language consent prompts (Chinese and English) for a presentation request.

The prompt says who is asking (the name from the RP's issuer-signed certificate, not from the request),
why (the registered purpose), what they will learn — phrased as the yes/no questions they actually get
answered — and what they will *not* learn. It never shows the values the RP sent for comparison (a
bystander may see the screen); "the name you gave them" is enough for the holder to decide.

It also gives the notice PIPL Art. 17 asks of a personal-information processor, from the same signed
certificate: the RP **as the processor** (its legal name, else its display name), its **contact**, and
how long it **keeps** what it learns — saying so plainly when the certificate does not state them. On
first contact with an RP that asks for an account identifier, it says that the wallet will first fetch
credentials for that RP from the issuer (so the issuer learns that the holder uses this RP).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from netid.oid4vp.dcql import Predicate
from netid.oid4vp.modes import AuthMode
from netid.oid4vp.request import RequestTerms

__all__ = ["ConsentItem", "ConsentPrompt", "Language", "build_consent_prompt"]

Language = Literal["zh", "en"]

_LEVEL_EN: Final = {"region_province": "province", "region_city": "city", "region_county": "county/district"}
_LEVEL_ZH: Final = {"region_province": "省", "region_city": "市", "region_county": "区县"}
_MODE_EN: Final = {
    "device": "this phone",
    "pin": "your PIN",
    "face": "your face",
    "pin+face": "your PIN and face",
}
_MODE_ZH: Final = {"device": "本机", "pin": "PIN 码", "face": "刷脸", "pin+face": "PIN 码和刷脸"}


@dataclass(frozen=True, slots=True)
class ConsentItem:
    """One thing the RP will learn, in both languages."""

    predicate: str
    en: str
    zh: str


@dataclass(frozen=True, slots=True)
class ConsentPrompt:
    """What the wallet shows before presenting. ``text(lang)`` renders it."""

    rp_name: str
    rp_id: str
    purpose: str
    items: tuple[ConsentItem, ...]
    min_mode: AuthMode | None
    #: from the RP certificate (PIPL Art. 17 notice); ``None`` where the certificate does not say
    processor: str | None = None
    contact: str | None = None
    retention: str | None = None
    #: the wallet must first fetch an RP-scoped batch from the issuer to answer (first contact)
    first_contact: bool = False

    def _notice_en(self) -> list[str]:
        processor = self.processor or self.rp_name
        contact = f", contact: {self.contact}" if self.contact else " (its certificate names no contact)"
        keeps = (
            f"It keeps what it learns for: {self.retention}."
            if self.retention
            else "Its certificate does not say how long it keeps what it learns."
        )
        return [f"Processor of your information: {processor}{contact}.", keeps]

    def _notice_zh(self) -> list[str]:
        processor = self.processor or self.rp_name
        contact = f"，联系方式：{self.contact}" if self.contact else "（证书未载明联系方式）"
        keeps = f"保存期限：{self.retention}。" if self.retention else "证书未载明保存期限。"
        return [f"个人信息处理者：{processor}{contact}。", keeps]

    def text(self, lang: Language = "zh") -> str:
        if lang == "en":
            lines = [f"{self.rp_name} asks to check, for: {self.purpose}", *self._notice_en()]
            if self.first_contact:
                lines.append(
                    f"First visit: your wallet will first get credentials for {self.rp_name} from the "
                    "issuer (the issuer then knows you use it)."
                )
            lines.append("They will learn:")
            lines += [f"  • {item.en}" for item in self.items] or ["  • that you are a verified real person"]
            if any(i.predicate == "id_number_equals" for i in self.items):
                lines.append("They will not see your date of birth or anything not listed.")
            else:
                lines.append("They will not see your ID number, your date of birth, or anything not listed.")
            if self.min_mode:
                lines.append(f"You will confirm with {_MODE_EN[self.min_mode]}.")
            lines.append("Share?")
        else:
            lines = [f"「{self.rp_name}」请求核验，用途：{self.purpose}", *self._notice_zh()]
            if self.first_contact:
                lines.append(
                    f"首次使用：钱包将先向签发方申领「{self.rp_name}」专用凭证（签发方将知道您使用该服务）。"
                )
            lines.append("对方将得知：")
            lines += [f"  • {item.zh}" for item in self.items] or ["  • 您是经过核验的真实用户"]
            if any(i.predicate == "id_number_equals" for i in self.items):
                lines.append("对方不会看到您的出生日期或以上未列出的任何信息。")
            else:
                lines.append("对方不会看到您的身份证号码、出生日期或以上未列出的任何信息。")
            if self.min_mode:
                lines.append(f"需要使用{_MODE_ZH[self.min_mode]}确认。")
            lines.append("是否同意？")
        return "\n".join(lines)


def _item(pred: Predicate, rp_name: str) -> ConsentItem:
    name = pred.name
    if name.startswith("age_over_"):
        age = name.removeprefix("age_over_")
        return ConsentItem(name, f"whether you are {age} or older (yes/no)", f"您是否年满{age}周岁（是/否）")
    if name == "doc_valid":
        return ConsentItem(
            name, "whether your ID card is still valid (yes/no)", "您的身份证是否在有效期内（是/否）"
        )
    if name == "name_equals":
        return ConsentItem(
            name,
            "whether your name matches the name you gave them (yes/no)",
            "您的姓名是否与您提供给对方的一致（是/否）",
        )
    if name == "id_number_equals":
        return ConsentItem(
            name,
            "whether your ID number matches the number you gave them (yes/no)",
            "您的身份证号码是否与您提供给对方的一致（是/否）",
        )
    if name == "region_in":
        codes = ", ".join(pred.values or ())
        return ConsentItem(
            name,
            f"whether your registered {_LEVEL_EN[pred.claim]} is one of {codes}, and if so which one",
            f"您的户籍所在{_LEVEL_ZH[pred.claim]}是否属于 {codes}，如是则告知是哪一个",
        )
    if name == "subject":
        return ConsentItem(
            name,
            f"an account number that only {rp_name} gets — the same every time, unknown to anyone else",
            f"仅供「{rp_name}」使用的专属账号标识（每次相同，其他机构无法关联）",
        )
    if name == "netno":
        return ConsentItem(
            name, "your network number (网号), for real-name registration", "您的网号（用于实名登记）"
        )
    return ConsentItem(name, name, name)


def build_consent_prompt(request: RequestTerms, *, first_contact: bool = False) -> ConsentPrompt:
    """The consent prompt for a request already checked by :func:`netid.oid4vp.request.open_request`
    (or, in person, :func:`netid.oid4vp.in_person.open_counter_request`). ``first_contact``: the wallet
    will fetch an RP-scoped batch from the issuer before answering (:mod:`netid.wallet.http`)."""
    cert = request.certificate
    return ConsentPrompt(
        rp_name=cert.name,
        rp_id=cert.rp_id,
        purpose=request.purpose,
        items=tuple(_item(p, cert.name) for p in request.predicates),
        min_mode=request.min_mode,
        processor=cert.processor,
        contact=cert.contact,
        retention=cert.retention,
        first_contact=first_contact,
    )
