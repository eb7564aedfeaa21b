"""/help and /privacy, through discord.py's dispatch: the help lists every command and menu
the tree holds and says what is stored; a member exports their own data as a JSON file,
and forgets it after a confirm button that only they can press."""

import json

import discord

from tests.helpers.discord_fakes import (
    channel_named,
    command_payload,
    dispatch,
    member_named,
    press_payload,
)
from tutor.answer import Answer

EPHEMERAL = discord.MessageFlags(ephemeral=True).value


def privacy(bot, sub: str, user: str = "learner") -> dict:
    options = [{"type": 1, "name": sub, "options": []}]
    return command_payload(bot, member_named(user), channel_named("general"), "privacy", options)


def stored_data_of(fake_service, user: discord.Member) -> dict:
    """A question with its answer, a rating, a finished quiz and a reported answer."""
    store, guild = fake_service.store, str(user.guild.id)
    question_id = store.log_question(
        str(user.id), guild, "What is NF4?", False, Answer("What is NF4?").to_dict()
    )
    store.add_feedback(str(user.id), "What is NF4?", True, question_id)
    store.save_quiz(str(user.id), guild, "lesson", {"answers": []}, result=(7, 10))
    reported = store.add_review(
        "What is GPTQ?", {"model": "m"}, "1", guild, reporter_id=str(user.id)
    )
    return {"question_id": question_id, "reported": reported}


async def test_help_lists_every_command_and_menu_and_the_privacy_note(bot):
    payload = command_payload(bot, member_named("learner"), channel_named("general"), "help", [])
    responses = await dispatch(bot, payload)
    [message] = responses.messages
    assert message["flags"] & EPHEMERAL
    [embed] = message["embeds"]
    text = json.dumps(embed)
    for name in ("/ask", "/explain", "/nextsteps", "/memory", "/quiz start", "/review list"):
        assert f"`{name}`" in text, name
    assert "`/privacy export`" in text and "`/privacy forget`" in text
    assert "Check with quantutor" in text and "Ask quantutor about this message" in text
    note = next(f["value"] for f in embed["fields"] if f["name"] == "Your data")
    for stored in ("questions", "ratings", "quiz", "review items", "database"):
        assert stored in note, stored
    assert len(discord.Embed.from_dict(embed)) <= 6000
    assert all(len(f["value"]) <= 1024 for f in embed["fields"])


async def test_privacy_export_sends_the_members_own_data_as_a_json_file(bot, fake_service):
    learner = member_named("learner")
    stored = stored_data_of(fake_service, learner)
    fake_service.store.log_question(str(member_named("classmate").id), "", "Not mine?", False)
    responses = await dispatch(bot, privacy(bot, "export"))
    assert responses.calls[0]["type"] == 5 and responses.calls[0]["data"]["flags"] & EPHEMERAL
    [sent] = responses.followups
    assert sent["flags"] & EPHEMERAL
    data = json.loads(responses.files[f"quantutor-data-{learner.id}.json"])
    assert "What is NF4?" in [q["question"] for q in data["questions"]]
    assert "Not mine?" not in json.dumps(data)
    assert data["feedback"] and data["quiz_results"][0]["score"] == 7
    assert stored["reported"] in [r["id"] for r in data["reports"]]
    fake_service.store.forget_user(str(learner.id))


async def test_privacy_forget_asks_first_then_deletes_and_says_what_it_removed(bot, fake_service):
    learner = member_named("classmate")  # a member of their own, for exact counts
    fake_service.store.forget_user(str(learner.id))
    stored = stored_data_of(fake_service, learner)
    asked = await dispatch(bot, privacy(bot, "forget", "classmate"))
    [question] = asked.messages
    assert question["flags"] & EPHEMERAL
    assert (
        "1 question, 1 rating" in question["content"]
        and "1 answer you reported" in question["content"]
    )
    buttons = [b["custom_id"] for row in question["components"] for b in row["components"]]
    assert buttons == [f"privacy:forget:{learner.id}", f"privacy:cancel:{learner.id}"]
    assert fake_service.store.logged_question(stored["question_id"]) is not None  # not yet

    someone_else = await dispatch(
        bot, press_payload(bot, member_named("learner"), channel_named("general"), buttons[0])
    )
    assert "Only the member who asked" in someone_else.messages[0]["content"]
    assert fake_service.store.logged_question(stored["question_id"]) is not None

    confirmed = await dispatch(
        bot, press_payload(bot, learner, channel_named("general"), buttons[0])
    )
    [done] = confirmed.calls
    assert done["type"] == 7 and done["data"]["components"] == []  # the buttons are gone
    assert done["data"]["content"].startswith(
        "🗑️ Done. Removed: 1 question, 1 rating, 1 quiz session, 1 quiz score, "
        "1 answer you reported."
    )
    assert fake_service.store.logged_question(stored["question_id"]) is None
    assert fake_service.store.get_review(stored["reported"]).reporter_id == "forgotten"
    assert not any(fake_service.store.user_data_counts(str(learner.id)).values())

    again = await dispatch(bot, privacy(bot, "forget", "classmate"))
    assert "nothing to delete" in again.messages[0]["content"]


async def test_cancel_deletes_nothing(bot, fake_service):
    learner = member_named("learner")
    stored = stored_data_of(fake_service, learner)
    cancel = f"privacy:cancel:{learner.id}"
    responses = await dispatch(bot, press_payload(bot, learner, channel_named("general"), cancel))
    assert responses.calls[0]["data"]["content"] == "Cancelled: nothing was deleted."
    assert fake_service.store.logged_question(stored["question_id"]) is not None
    fake_service.store.forget_user(str(learner.id))
