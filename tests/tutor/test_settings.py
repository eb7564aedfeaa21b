import pytest

from tutor.errors import SettingsError
from tutor.settings import load_settings


def test_defaults_are_the_packaged_model_in_nf4(monkeypatch):
    monkeypatch.delenv("QUANTUTOR_MODEL", raising=False)
    monkeypatch.delenv("QUANTUTOR_QUANTIZATION", raising=False)
    settings = load_settings()
    assert settings.model == "packaged"
    assert settings.quantization == "nf4"


def test_environment_variables_are_read(monkeypatch, tmp_path):
    monkeypatch.setenv("QUANTUTOR_QUANTIZATION", "int8")
    monkeypatch.setenv("QUANTUTOR_DATA_DIR", str(tmp_path))
    settings = load_settings()
    assert settings.quantization == "int8"
    assert settings.database_path.parent == tmp_path


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("QUANTUTOR_QUANTIZATION", "fp3"),
        ("QUANTUTOR_MAX_NEW_TOKENS", "lots"),
        ("QUANTUTOR_MAX_NEW_TOKENS", "0"),
        ("QUANTUTOR_TOP_K", "-1"),
    ],
)
def test_a_bad_value_fails_with_one_line_naming_the_setting(monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith(f"{variable}:")
    assert repr(value) in message
    assert "\n" not in message


def test_discord_token_is_read_from_discord_token_too(monkeypatch):
    monkeypatch.delenv("QUANTUTOR_DISCORD_TOKEN", raising=False)
    monkeypatch.setenv("DISCORD_TOKEN", "abc.def")
    assert load_settings().discord_token.get_secret_value() == "abc.def"
    assert "abc.def" not in repr(load_settings())
