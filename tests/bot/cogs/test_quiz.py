"""/quiz on Discord: a private thread, option buttons for the taker only, Q8 in a form;
a refused answer changes nothing."""

import itertools
from unittest.mock import patch

import discord

from bot.cogs.quiz import NOT_YOURS, FreeTextModal, QuizButton, question_controls
from bot.main import build_bot
from quiz.bank import FreeTextQuestion, load_bank
from quiz.engine import QuestionView
from tests.helpers.discord_fakes import (
    assert_no_pings,
    channel_named,
    fake_message,
    fill_modal,
    from_learner,
    http_response,
    interaction_for,
    member_named,
    private_reply,
    spec_of,
)
from tutor.quizzes import QuizDesk


def quiz_cog(bot):
    return bot.get_cog("Quiz")


def a_thread() -> discord.Thread:
    thread = spec_of(discord.Thread)
    thread.id = next(_thread_ids)
    thread.mention = f"<#{thread.id}>"
    thread.archived = thread.locked = False
    return thread


_thread_ids = itertools.count(1_234_567_890_123_456_789)


async def start(bot, user="learner", bank="lesson", thread=None, refuse=False):
    """/quiz start, with Discord's thread creation (a network call) answered by a fake."""
    interaction = interaction_for(bot, member_named(user), channel_named("general"))
    with patch.object(
        discord.TextChannel, "create_thread", autospec=True, return_value=thread or a_thread()
    ) as create:
        if refuse:
            refused = discord.Forbidden(http_response(403, "Forbidden"), "Missing Access")
            create.side_effect = refused
        await quiz_cog(bot).quiz_start.callback(quiz_cog(bot), interaction, bank=bank)
    return interaction, create


def buttons(view) -> list[QuizButton]:
    return list(view.children)


async def press(bot, button: QuizButton, user="learner", ephemeral=False):
    message = fake_message(channel_named("general"), ephemeral=ephemeral)
    interaction = interaction_for(
        bot, member_named(user), channel_named("general"), message=message
    )
    await button.callback(interaction)
    return interaction


async def test_quiz_start_opens_a_private_thread_with_the_question_and_option_buttons(bot):
    thread = a_thread()
    interaction, create = await start(bot, thread=thread)
    assert create.await_args.kwargs["type"] == discord.ChannelType.private_thread
    thread.add_user.assert_awaited_once_with(member_named("learner"))
    question = thread.send.await_args.kwargs
    assert question["embed"].title == "Question 1/10"
    user_id = member_named("learner").id
    assert [b.custom_id for b in buttons(question["view"])] == [
        f"quiz:{user_id}:lesson:q1-main-idea:{letter}" for letter in "ABCD"
    ]
    assert question["allowed_mentions"].to_dict() == {"parse": []}
    assert thread.mention in private_reply(interaction)


async def test_without_a_thread_the_quiz_goes_ephemeral(bot):
    interaction, _ = await start(bot, user="classmate", refuse=True)
    sent = interaction.followup.send.await_args.kwargs
    assert sent["ephemeral"] is True and sent["embed"].title.startswith("Question 1/")


async def test_only_the_quiz_taker_can_answer(bot, fake_service):
    thread = a_thread()
    await start(bot, thread=thread)
    first = buttons(thread.send.await_args.kwargs["view"])[0]
    other = await press(bot, first, user="classmate")
    assert private_reply(other) == NOT_YOURS
    other.response.edit_message.assert_not_awaited()
    learner = str(member_named("learner").id)
    guild = str(channel_named("general").guild.id)
    assert fake_service.quizzes.current(learner, guild, "lesson").number == 1


async def test_a_whole_quiz_with_the_free_text_question_in_a_form(bot, fake_service):
    thread = a_thread()
    await start(bot, user="moderator", thread=thread)
    view = thread.send.await_args.kwargs["view"]
    bank = load_bank("lesson")
    for question in bank.questions:
        button = buttons(view)[0]
        if isinstance(question, FreeTextQuestion):
            assert button.item.label == "Answer in your own words"
            opened = await press(bot, button, user="moderator")
            modal = opened.response.send_modal.await_args.args[0]
            assert isinstance(modal, FreeTextModal)
            submit = interaction_for(
                bot, member_named("moderator"), channel_named("general"), message=opened.message
            )
            fill_modal(modal, submit, "Check it against the original paper or a trusted source.")
            await modal.on_submit(submit)
            interaction = submit
            assert "correct" in interaction.response.edit_message.await_args.kwargs["embed"].title
        else:
            interaction = await press(bot, button, user="moderator")
        result = interaction.response.edit_message.await_args.kwargs
        assert result["view"] is None and result["embed"].title[0] in "✅❌"
        follow = interaction.followup.send.await_args.kwargs
        assert follow["ephemeral"] is False
        view = follow.get("view")
        assert_no_pings(interaction)
    assert follow["embed"].title.startswith("🏁") and "/10" in follow["embed"].description

    score = interaction_for(bot, member_named("moderator"), channel_named("general"))
    await quiz_cog(bot).quiz_score.callback(quiz_cog(bot), score, bank="lesson")
    assert "Your best on **lesson**" in private_reply(score)
    board = interaction_for(bot, member_named("learner"), channel_named("general"))
    await quiz_cog(bot).quiz_leaderboard.callback(quiz_cog(bot), board, bank="lesson")
    assert f"<@{member_named('moderator').id}>" in private_reply(board)
    assert_no_pings(board)


async def test_a_second_click_on_an_answered_question_is_explained(bot):
    thread = a_thread()
    await start(bot, user="classmate", thread=thread)
    first = buttons(thread.send.await_args.kwargs["view"])[0]
    await press(bot, first, user="classmate")
    again = await press(bot, first, user="classmate")
    assert "already answered" in private_reply(again)


async def test_quiz_buttons_fit_discord_and_are_served_after_a_restart(fake_service, settings):
    restarted = build_bot(fake_service, settings)
    await restarted.setup_hook()
    patterns = list(restarted._connection._view_store._dynamic_items)
    for name in QuizDesk.banks():
        session = load_bank(name)
        for question in session.questions:
            view = question_controls(2**63 - 1, name, _view_of(question))
            for button in buttons(view):
                assert len(button.custom_id) <= 100
                assert any(p.fullmatch(button.custom_id) for p in patterns)


def _view_of(question):
    options = tuple(getattr(question, "options", ()))
    return QuestionView(question.id, 1, 1, question.question, options)


async def test_score_before_any_quiz_says_how_to_start(bot):
    interaction = interaction_for(bot, member_named("learner"), channel_named("elsewhere"))
    await quiz_cog(bot).quiz_score.callback(quiz_cog(bot), interaction, bank="deep_dive")
    assert "try /quiz start" in private_reply(interaction)


async def test_a_refused_quiz_answer_changes_nothing_and_is_told_privately(bot, fake_service):
    learner = member_named("learner")
    guild = str(learner.guild.id)
    view = fake_service.quizzes.start(str(learner.id), guild, "deep_dive")
    before = fake_service.store.load_quiz(str(learner.id), guild, "deep_dive")
    cog = bot.get_cog("Quiz")
    for question_id, choice, says in [
        ("no-such-question", "A", "no question"),
        (view.question_id, "Z", "not an option"),
        ("'); DROP TABLE quiz_sessions; --", "A", "no question"),
    ]:
        interaction = from_learner(bot)
        await cog.grade(interaction, "deep_dive", question_id, choice)
        assert says in private_reply(interaction)
        assert_no_pings(interaction)
    assert fake_service.store.load_quiz(str(learner.id), guild, "deep_dive") == before


async def test_a_resumed_quiz_reopens_its_thread_instead_of_opening_another(bot):
    thread = a_thread()
    _, create = await start(bot, user="classmate", thread=thread)
    thread.archived = True  # a day without an answer
    with patch.object(discord.Guild, "fetch_channel", autospec=True, return_value=thread):
        again, create_again = await start(bot, user="classmate", thread=a_thread())
    create_again.assert_not_awaited()
    thread.edit.assert_awaited_once_with(archived=False)
    assert thread.send.await_count == 2  # the question again, in the same thread
    assert thread.mention in private_reply(again)


async def test_a_thread_that_refuses_the_first_question_is_deleted_not_left_empty(bot):
    thread = a_thread()
    thread.send.side_effect = discord.Forbidden(http_response(403, "Forbidden"), "Missing Access")
    interaction, _ = await start(bot, user="moderator", thread=thread)
    thread.delete.assert_awaited_once()
    sent = interaction.followup.send.await_args.kwargs
    assert sent["ephemeral"] is True and sent["embed"].title.startswith("Question 1/")
    learner, guild = str(member_named("moderator").id), str(channel_named("general").guild.id)
    assert bot.service.store.quiz_thread(learner, guild, "lesson") == ""  # not reused later
