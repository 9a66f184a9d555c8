"""The kiosk configuration: one typed model a technician writes and the kiosk obeys.

Defaults live here and nowhere else; unknown keys are refused; every field carries a
description, written for the technician who reads the validation error. Devices are
keyed by slot (`devices.idcard`, `devices.camera`, `devices.scanner`, `devices.printer`)
and each slot is a union discriminated by `type`, one member per driver type registered
in `device_drivers` plus a simulator type for training kiosks (the simulator speaks the
same bytes over a pseudo-terminal, so the real driver is what runs).
"""

from __future__ import annotations

import re
from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from protocols.topics import DEFAULT_ROOT, STATION_ID

FORMAT_VERSION = 2

SERIAL_BAUD_RATES = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)
SAM_BAUD_RATES = (115200, 57600, 38400, 19200, 9600)  # GA/T 467 readers: these only
FONT_SETS = ("gb2312", "gbk", "gb18030")
SCANNER_SUFFIXES = ("CR", "CRLF", "LF", "TAB", "NONE")
LANGUAGES = ("zh_CN", "en")


def _one_of(allowed: tuple[int, ...]):
    def check(v: int) -> int:
        if v not in allowed:
            raise ValueError("须为 " + "、".join(map(str, allowed)) + " 之一")
        return v

    return AfterValidator(check)


SerialBaud = Annotated[int, _one_of(SERIAL_BAUD_RATES)]
SamBaud = Annotated[int, _one_of(SAM_BAUD_RATES)]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _path(description: str, default=None):
    return Field(default, min_length=1, max_length=500, description=description)


# --- identity and endpoints ------------------------------------------------------------
class Station(Section):
    id: str = Field(
        pattern=STATION_ID.pattern,
        description="站点编号：村的12位统计用区划代码，同村多台时加后缀（如 411381101201-2）",
    )
    name: str = Field(
        min_length=1, max_length=60, description="站点名称，如 “构林镇关庄村便民服务站”"
    )
    town: str = Field("", max_length=60, description="所属乡镇（街道），用于按乡镇筛选")


class Hub(Section):
    url: str = Field(
        pattern=r"^https?://[^\s/]+(?:/\S*)?$",
        description="县级平台地址（https://…），登记、下载配置和证书用",
    )


class Broker(Section):
    url: str = Field(
        pattern=r"^mqtts?://[^\s/:]+(?::\d{1,5})?/?$",
        description="消息服务器地址：mqtts://主机:8883（加密）；mqtt:// 只用于演示和本机测试",
    )
    root: str = Field(
        DEFAULT_ROOT,
        pattern=r"^[A-Za-z0-9_\-]+(?:/[A-Za-z0-9_\-]+)*$",
        description="主题根，整个县必须一致",
    )
    keepalive: int = Field(30, ge=5, le=600, description="MQTT 保活间隔（秒）")
    heartbeat_interval: int = Field(
        30,
        ge=5,
        le=3600,
        description="心跳间隔（秒）：平台据此判断站点在线、迟到、离线",
    )


class Tls(Section):
    ca_file: str | None = _path("部署根证书（PEM）路径，用来核验消息服务器；为空时不加密（仅演示）")
    credentials_file: str | None = _path(
        "登记时保存的 MQTT 账号文件（JSON，username/password）路径；为空时匿名连接（仅演示）"
    )
    config_key_file: str | None = _path("平台签名公钥（PEM）路径，用来核验下发的配置和事项目录")


# --- peripheral settings stored in the device itself -------------------------------------
class PrinterInternal(Section):
    """Settings a printer keeps in its own memory (set once by command, kept across power)."""

    density: int | None = Field(
        None,
        ge=1,
        le=8,
        description="打印浓度 1（最淡）–8（最浓）；为空时不改动打印机",
    )
    code_page: Literal["gb18030", "gbk", "gb2312"] | None = Field(
        None,
        description="打印机中文字符集；为空时不改动打印机",
    )


class ScannerInternal(Section):
    mode: Literal["continuous", "trigger", "sense"] | None = Field(
        None,
        description="扫码模式：continuous 连续、trigger 命令触发、sense 感应；为空时不改动",
    )
    suffix: Literal["CR", "CRLF", "LF", "TAB", "NONE"] | None = Field(
        None,
        description="扫码器结束符，写入扫码器；为空时不改动",
    )


class ReaderInternal(Section):
    baudrate: Literal[115200, 57600, 38400, 19200, 9600] | None = Field(
        None,
        description="写入读卡器的波特率（GA/T 467 设置波特率命令）；为空时不改动",
    )


# --- devices ---------------------------------------------------------------------------
class Device(Section):
    kind: ClassVar[str]
    profile: str | None = Field(
        None,
        pattern=r"^[a-z0-9][a-z0-9\-]{0,63}$",
        description="硬件型号档案名（见 `cunban config profiles`）；先填入档案设置，本处覆盖",
    )

    @property
    def driver_type(self) -> str:
        """The `device_drivers` type that runs this device (a simulator's hardware type)."""
        t = self.type  # type: ignore[attr-defined]
        return SIMULATES.get(t, t)

    @property
    def simulated(self) -> bool:
        return self.type in SIMULATES  # type: ignore[attr-defined]

    def driver_settings(self) -> dict:
        """Keyword settings for `device_drivers.create_driver(kind, driver_type, …)`;
        a simulator's own settings are left out (the kiosk supplies the pty port)."""
        return self.model_dump(exclude={"type", "profile", "internal", *SIMULATOR_ONLY})


SIMULATOR_ONLY = ("cards_file",)


class SerialPort(Device):
    port: str = Field(
        min_length=1,
        max_length=200,
        description="串口路径，建议用 /dev/serial/by-id/…（插拔后不变），或 pyserial URL",
    )


class IdCardSam(SerialPort):
    kind: ClassVar[str] = "idcard"
    type: Literal["sam"] = Field(description="身份证阅读器：GA/T 467 SAM 串口协议")
    baudrate: SamBaud = Field(115200, description="串口波特率，须与读卡器一致")
    poll_interval: float = Field(0.3, ge=0.05, le=5, description="检测放卡的间隔（秒）")
    internal: ReaderInternal = Field(
        default_factory=ReaderInternal, description="写入读卡器本身的设置"
    )


class IdCardSimulator(Device):
    kind: ClassVar[str] = "idcard"
    type: Literal["sam-simulator"] = Field(description="模拟读卡器（培训机）：真实驱动连到模拟串口")
    cards_file: str | None = _path("模拟身份证数据文件（JSON）；为空时用内置样例卡")


class CameraUvc(Device):
    kind: ClassVar[str] = "camera"
    type: Literal["uvc"] = Field(description="高拍仪：USB 视频类（UVC）摄像头")
    device: int | str = Field(0, description="摄像头编号（0、1…）或 /dev/video… 路径")
    width: int = Field(1920, ge=320, le=8192, description="拍摄宽度（像素）")
    height: int = Field(1080, ge=240, le=8192, description="拍摄高度（像素）")
    fourcc: Literal["MJPG", "YUYV"] = Field("MJPG", description="视频格式；高分辨率用 MJPG")


class CameraSynthetic(Device):
    kind: ClassVar[str] = "camera"
    type: Literal["synthetic"] = Field(description="模拟高拍仪（培训机）：合成文件或照片文件夹")
    folder: str | None = _path("照片文件夹；为空时合成一张文件")
    width: int = Field(1280, ge=320, le=8192, description="画面宽度（像素）")
    height: int = Field(720, ge=240, le=8192, description="画面高度（像素）")


class ScannerSerial(SerialPort):
    kind: ClassVar[str] = "scanner"
    type: Literal["serial"] = Field(description="扫码模块：串口或 USB 虚拟串口，自带解码")
    baudrate: SerialBaud = Field(9600, description="串口波特率，须与扫码器一致")
    suffix: Literal["CR", "CRLF", "LF", "TAB", "NONE"] = Field(
        "CR",
        description="扫码器每条码后发送的结束符（驱动据此分条）",
    )
    internal: ScannerInternal = Field(
        default_factory=ScannerInternal, description="写入扫码器本身的设置"
    )


class ScannerSimulator(Device):
    kind: ClassVar[str] = "scanner"
    type: Literal["serial-simulator"] = Field(description="模拟扫码器（培训机）")


class _Printer(Device):
    kind: ClassVar[str] = "printer"
    width_mm: Literal[58, 80] = Field(58, description="纸宽（毫米）：58 或 80")
    font_set: Literal["gb2312", "gbk", "gb18030"] = Field(
        "gb18030",
        description="打印机内置中文字库；库外的字用图像打印",
    )
    internal: PrinterInternal = Field(
        default_factory=PrinterInternal, description="写入打印机本身的设置"
    )


class PrinterSerial(_Printer, SerialPort):
    type: Literal["escpos-serial"] = Field(description="小票打印机：ESC/POS 串口")
    baudrate: SerialBaud = Field(9600, description="串口波特率，须与打印机一致")


class PrinterUsb(_Printer):
    type: Literal["escpos-usb"] = Field(description="小票打印机：ESC/POS USB 打印机类")
    device: str = Field("/dev/usb/lp0", min_length=1, max_length=200, description="打印机设备文件")
    bidirectional: bool = Field(True, description="打印机能回传状态（缺纸检测）时为 true")


class PrinterSimulator(_Printer):
    type: Literal["escpos-simulator"] = Field(description="模拟打印机（培训机）")


IdCardDevice = Annotated[IdCardSam | IdCardSimulator, Field(discriminator="type")]
CameraDevice = Annotated[CameraUvc | CameraSynthetic, Field(discriminator="type")]
ScannerDevice = Annotated[ScannerSerial | ScannerSimulator, Field(discriminator="type")]
PrinterDevice = Annotated[
    PrinterSerial | PrinterUsb | PrinterSimulator, Field(discriminator="type")
]

# Simulator type → the hardware type whose driver runs against it.
SIMULATES = {
    "sam-simulator": "sam",
    "serial-simulator": "serial",
    "escpos-simulator": "escpos-serial",
}


class Devices(Section):
    idcard: IdCardDevice | None = Field(None, description="身份证阅读器；为空表示本站没有")
    camera: CameraDevice | None = Field(None, description="高拍仪；为空表示本站没有")
    scanner: ScannerDevice | None = Field(None, description="扫码器；为空表示本站没有")
    printer: PrinterDevice | None = Field(None, description="小票打印机；为空表示本站没有")

    def configured(self) -> dict[str, Section]:
        return {name: dev for name in type(self).model_fields if (dev := getattr(self, name))}


# --- people-facing options -----------------------------------------------------------
class Ui(Section):
    languages: list[Literal["zh_CN", "en"]] = Field(
        default_factory=lambda: ["zh_CN"],
        min_length=1,
        description="界面语言，第一个为默认",
    )
    voice: bool = Field(True, description="语音提示（老人、识字少的群众需要）")
    voice_volume: int = Field(80, ge=0, le=100, description="语音音量 0–100")
    idle_timeout: int = Field(
        90,
        ge=15,
        le=1800,
        description="无人操作多少秒后清屏回到首页（清除个人信息）",
    )
    idle_warning: int = Field(15, ge=5, le=120, description="清屏前提醒的秒数")
    large_text: bool = Field(True, description="大字体")

    @field_validator("languages")
    @classmethod
    def _unique(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("each language only once")
        return v


class Services(Section):
    offered: list[str] = Field(
        default_factory=list,
        max_length=2000,
        description="本站提供的事项编码（如 GG00701000）；为空表示目录中的全部村级事项",
    )
    proxy_filing: bool = Field(True, description="允许代办员代办（全程代办）")
    photo_materials: bool = Field(True, description="用高拍仪拍摄材料（需配置高拍仪）")
    print_receipts: bool = Field(True, description="打印回执（需配置打印机）")

    @field_validator("offered")
    @classmethod
    def _codes(cls, v: list[str]) -> list[str]:
        bad = [c for c in v if not re.fullmatch(r"[A-Z]{2}\d{8}", c)]
        if bad:
            raise ValueError("not a service code (two letters, eight digits): " + ", ".join(bad))
        if len(set(v)) != len(v):
            raise ValueError("each service code only once")
        return v


class KioskConfig(Section):
    """A kiosk's whole configuration, as written by a technician."""

    format: Literal[2] = Field(FORMAT_VERSION, description="配置格式版本（旧格式自动升级）")
    station: Station = Field(description="站点身份")
    hub: Hub = Field(description="县级平台")
    broker: Broker = Field(description="消息服务器")
    tls: Tls = Field(default_factory=Tls, description="证书和账号文件")
    devices: Devices = Field(default_factory=Devices, description="外设")
    ui: Ui = Field(default_factory=Ui, description="界面")
    services: Services = Field(default_factory=Services, description="办理事项")
