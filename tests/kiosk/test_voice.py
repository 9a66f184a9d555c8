"""Voice guidance: espeak-ng speaks each step's prompt in Mandarin (here written to WAV)."""

from __future__ import annotations

import shutil
import wave

from kiosk.flow.runtime import Speaker
from kiosk.strings import text


def _seconds(path) -> float:
    with wave.open(str(path)) as w:
        return w.getnframes() / w.getframerate()


def test_the_identify_prompt_is_synthesised_in_mandarin_and_a_new_prompt_replaces_it(tmp_path):
    assert shutil.which("espeak-ng"), "espeak-ng is installed by `make` (APT_PACKAGES)"
    speaker = Speaker(record_dir=tmp_path)
    sentence = text("identify.title", "zh_CN")
    speaker.say(sentence, "zh_CN")
    speaker.finish()
    [wav] = sorted(tmp_path.glob("*.wav"))
    # about four syllables a second at the kiosk's slow rate: a real sentence, not a blip
    assert _seconds(wav) > len(sentence) / 5
    speaker.say(text("phone.title", "en"), "en")
    speaker.finish()
    assert len(list(tmp_path.glob("*.wav"))) == 2
    assert speaker.spoken == [sentence, text("phone.title", "en")]


def test_without_voice_the_prompts_are_only_remembered(tmp_path):
    speaker = Speaker(enabled=False, record_dir=tmp_path)
    speaker.say("请把身份证放在感应区", "zh_CN")
    speaker.finish()
    assert speaker.spoken == ["请把身份证放在感应区"] and not list(tmp_path.iterdir())
