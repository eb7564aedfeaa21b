"""The console's review queue: a correction says which items it also answered."""

from argparse import Namespace

from terminal.review import run_review


def test_a_correction_in_the_console_names_the_items_it_also_closed(
    fake_service, settings, monkeypatch, capsys
):
    monkeypatch.setattr(fake_service, "close", lambda: None)  # the session's tutor stays open
    store = fake_service.store
    corrected = store.add_review("Is int2 usable for chat?", {"model": "m"}, "1", "console")
    same = store.add_review("is INT2 usable for chat", {"model": "m"}, "2", "console")
    args = Namespace(
        action="correct", id=corrected, correction="int2 breaks most models.", moderator="mod"
    )
    assert run_review(args, settings, lambda _: fake_service) == 0
    out = capsys.readouterr().out
    assert f"#{corrected} corrected by mod." in out
    assert f"It also answers #{same} (the same question): closed as answered." in out
    assert store.get_review(same).status == "answered"
