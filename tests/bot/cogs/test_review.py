"""The moderators' queue on Discord: posts, persistent buttons, permissions, outcomes;
an unusable correction is refused."""

from unittest.mock import patch

import discord
import discord.ext.test as dpytest
import discord.ext.test.backend as dpytest_backend
import pytest

from bot.cogs.review import CorrectionModal, ReviewButton, review_controls
from bot.main import build_bot
from tests.helpers.discord_fakes import (
    assert_no_pings,
    button_for,
    channel_named,
    fake_message,
    fill_modal,
    interaction_for,
    member_named,
    private_reply,
    sent,
)
from tutor.answer import Answer, Sentence, SourceRef

MODERATOR = discord.Permissions(manage_messages=True)


async def flagged_item(fake_service, question: str = "Is NF4 always lossless? @everyone") -> int:
    """A flagged answer on the fake server, with its original message in #general."""
    general = channel_named("general")
    answer = Answer(
        question,
        sentences=[
            Sentence("NF4 is a 4-bit data type.", "supported", 0.9, [1], origin="source"),
            Sentence("NF4 never loses quality @here.", "overbroad", 0.4, [1], "too general"),
        ],
        sources=[SourceRef(1, "QLoRA", "Dettmers et al.", "NF4 is a 4-bit data type.")],
    )
    review_id = fake_service.store.add_review(
        question, answer.to_dict(), str(member_named("learner").id), str(general.guild.id)
    )
    original = await general.send("the answer", allowed_mentions=discord.AllowedMentions.none())
    fake_service.store.set_review_message(review_id, str(general.id), str(original.id))
    dpytest.get_message()  # the original answer itself
    return review_id


def in_moderators(bot, user="moderator", permissions=MODERATOR):
    """An interaction from `user` on a post in the moderators' channel."""
    post = fake_message(channel_named("moderators"))
    return interaction_for(
        bot, member_named(user), channel_named("moderators"), permissions=permissions, message=post
    )


async def click(bot, action, review_id, user="moderator", permissions=MODERATOR):
    interaction = in_moderators(bot, user, permissions)
    await ReviewButton(action, review_id).callback(interaction)
    return interaction


async def test_a_flagged_answer_is_posted_to_the_moderators_with_persistent_buttons(
    bot, fake_service
):
    review_id = await flagged_item(fake_service)
    with patch.object(
        discord.TextChannel, "send", autospec=True, side_effect=discord.TextChannel.send
    ) as send:
        await bot.get_cog("Review").notify(channel_named("general").guild, review_id)
    posted = dpytest.get_message()
    assert posted.channel == channel_named("moderators")
    assert f"Review #{review_id}" in posted.content
    assert not posted.mention_everyone and "@everyone" not in posted.embeds[0].title
    view = send.await_args.kwargs["view"]
    assert view.timeout is None
    assert [item.custom_id for item in view.children] == [
        f"review:{action}:{review_id}" for action in ("approve", "reject", "correct")
    ]
    assert send.await_args.kwargs["allowed_mentions"].to_dict() == {"parse": []}


async def test_approve_resolves_edits_the_post_and_tells_the_original_answer(bot, fake_service):
    review_id = await flagged_item(fake_service)
    interaction = await click(bot, "approve", review_id)
    assert fake_service.store.get_review(review_id).status == "approved"
    edit = interaction.response.edit_message.await_args.kwargs
    assert edit["view"] is None and f"Review #{review_id} approved by moderator" in edit["content"]
    outcome = dpytest.get_message()
    assert outcome.channel == channel_named("general")
    assert outcome.content.startswith("✅ Reviewed by a moderator: approved")
    assert_no_pings(interaction)


async def test_a_second_click_on_a_resolved_item_changes_nothing(bot, fake_service):
    review_id = await flagged_item(fake_service)
    await click(bot, "reject", review_id)
    dpytest.get_message()  # the outcome under the original answer
    second = await click(bot, "approve", review_id, user="classmate")
    assert "already rejected by moderator" in private_reply(second)
    assert "nothing changed" in private_reply(second)
    second.response.edit_message.assert_not_awaited()
    assert fake_service.store.get_review(review_id).status == "rejected"
    assert dpytest.verify().message().nothing()


async def test_members_without_the_role_or_permission_are_refused(bot, fake_service):
    review_id = await flagged_item(fake_service)
    for action in ("approve", "reject", "correct"):
        interaction = await click(
            bot, action, review_id, user="learner", permissions=discord.Permissions.none()
        )
        assert "Only moderators can do that" in private_reply(interaction)
        interaction.response.send_modal.assert_not_awaited()
    assert fake_service.store.get_review(review_id).status == "pending"
    assert dpytest.verify().message().nothing()


async def test_the_configured_moderator_role_is_enough(bot, fake_service):
    review_id = await flagged_item(fake_service)
    guild = channel_named("general").guild
    role = dpytest_backend.make_role("Tutors", guild)
    await dpytest.add_role(member_named("classmate"), role)
    fake_service.store.update_guild_settings(str(guild.id), mod_role_id=role.id)
    await click(bot, "approve", review_id, user="classmate", permissions=discord.Permissions.none())
    assert fake_service.store.get_review(review_id).status == "approved"


async def test_the_moderator_role_opens_review_list_without_manage_messages(bot, fake_service):
    review_id = await flagged_item(fake_service)
    guild = channel_named("general").guild
    role = dpytest_backend.make_role("Reviewers", guild)
    await dpytest.add_role(member_named("classmate"), role)
    fake_service.store.update_guild_settings(str(guild.id), mod_role_id=role.id)
    cog = bot.get_cog("Review")
    interaction = interaction_for(
        bot,
        member_named("classmate"),
        channel_named("moderators"),
        permissions=discord.Permissions.none(),
    )
    await cog.review_list.callback(cog, interaction)
    assert f"**#{review_id}**" in private_reply(interaction)


async def test_correct_opens_a_form_and_the_correction_becomes_the_outcome(bot, fake_service):
    review_id = await flagged_item(fake_service, question="Are purple elephants real?")
    opened = await click(bot, "correct", review_id)
    modal = opened.response.send_modal.await_args.args[0]
    assert isinstance(modal, CorrectionModal)
    submit = in_moderators(bot)
    fill_modal(
        modal, submit, "Purple elephants are a children's story @everyone.\n\nSee:\n- no zoo"
    )
    await modal.on_submit(submit)
    review = fake_service.store.get_review(review_id)
    assert review.status == "corrected" and "children's story" in review.correction
    source = (fake_service.corrections_dir / f"review-{review_id}.md").read_text()
    moderator = member_named("moderator")  # cited in every answer: it names no moderator
    assert f"review #{review_id}" in source
    assert f"by {moderator.name}" not in source and str(moderator.id) not in source
    edit = submit.edit_original_response.await_args.kwargs
    assert edit["view"] is None and "corrected by moderator" in edit["content"]
    outcome = dpytest.get_message()
    assert outcome.content.startswith("✏️ Reviewed by a moderator: corrected")
    assert "children's story" in outcome.content and "@everyone" not in outcome.content
    assert review.correction.endswith("story everyone.\n\nSee:\n- no zoo")  # lines kept
    assert "\n> See:\n> \\- no zoo" in outcome.content


async def test_a_deleted_original_answer_is_skipped_quietly(bot, fake_service):
    review_id = await flagged_item(fake_service)
    fake_service.store.set_review_message(review_id, str(channel_named("general").id), "123456789")
    await click(bot, "approve", review_id)
    assert fake_service.store.get_review(review_id).status == "approved"
    assert dpytest.verify().message().nothing()


async def test_a_button_rebuilt_after_a_restart_acts_on_its_own_item(bot, fake_service, settings):
    first, second = await flagged_item(fake_service), await flagged_item(fake_service)
    custom_id = review_controls(second).children[1].custom_id  # review:reject:<second>

    restarted = build_bot(fake_service, settings)  # a new process: nothing in memory but setup_hook
    await restarted.setup_hook()
    item = await button_for(restarted, custom_id, in_moderators(bot))
    restarted.http, restarted._connection = bot.http, bot._connection  # the same (fake) Discord
    interaction = in_moderators(bot)
    interaction.client = restarted
    await item.callback(interaction)

    assert fake_service.store.get_review(second).status == "rejected"
    assert fake_service.store.get_review(first).status == "pending"
    assert dpytest.get_message().content.startswith("🚫 Reviewed by a moderator: rejected")


async def test_review_list_and_show_are_for_moderators_only(bot, fake_service):
    review_id = await flagged_item(fake_service)
    cog = bot.get_cog("Review")
    listing = in_moderators(bot)
    await cog.review_list.callback(cog, listing)
    text = private_reply(listing)
    assert f"**#{review_id}**" in text and "@everyone" not in text

    shown = in_moderators(bot)
    await cog.review_show.callback(cog, shown, id=review_id)
    call = shown.response.send_message.await_args
    assert f"Review #{review_id}" in call.args[0] and call.kwargs["ephemeral"]
    assert [i.custom_id for i in call.kwargs["view"].children][0] == f"review:approve:{review_id}"
    assert_no_pings(shown)

    refused = interaction_for(bot, member_named("learner"), channel_named("general"))
    await cog.review_show.callback(cog, refused, id=review_id)
    assert "Only moderators" in private_reply(refused)
    assert not any("NF4" in (content or "") for _, content, _ in sent(refused))


async def test_an_item_from_another_server_does_not_exist_here(bot, fake_service):
    other = fake_service.store.add_review("elsewhere?", Answer("elsewhere?").to_dict(), "1", "42")
    cog = bot.get_cog("Review")
    interaction = in_moderators(bot)
    await cog.review_show.callback(cog, interaction, id=other)
    assert f"no review item #{other} on this server" in private_reply(interaction)


@pytest.mark.parametrize("correction", ["", " \n\t ", "\u200b\u202e", "x" * 4001])
async def test_an_unusable_correction_is_refused_and_the_item_stays_pending(
    bot, fake_service, correction
):
    moderator = member_named("moderator")
    review_id = fake_service.store.add_review(
        "Is int4 lossless?", {"model": "m"}, "7777", str(moderator.guild.id)
    )
    interaction = interaction_for(
        bot,
        moderator,
        channel_named("moderators"),
        permissions=discord.Permissions(manage_messages=True),
    )
    await bot.get_cog("Review").correct(interaction, review_id, correction)
    assert "correction" in private_reply(interaction)
    assert fake_service.store.get_review(review_id).status == "pending"
    fake_service.store.resolve_review(review_id, "rejected", "cleanup")  # off the shared queue


async def test_a_decision_made_elsewhere_takes_the_buttons_off_the_moderators_post(
    bot, fake_service
):
    review_id = await flagged_item(fake_service)
    cog = bot.get_cog("Review")
    assert await cog.notify(channel_named("general").guild, review_id)
    post = dpytest.get_message()  # with Approve, Reject, Correct
    item = fake_service.store.get_review(review_id)
    assert (item.mod_channel_id, item.mod_message_id) == (str(post.channel.id), str(post.id))

    shown = in_moderators(bot)  # /review show's private copy, with its own buttons
    await cog.review_show.callback(cog, shown, id=review_id)
    view = shown.response.send_message.await_args.kwargs["view"]
    pressed = in_moderators(bot)
    with patch.object(
        discord.Message, "edit", autospec=True, side_effect=discord.Message.edit
    ) as edit:
        await view.children[0].callback(pressed)  # Approve, there
    assert fake_service.store.get_review(review_id).status == "approved"
    [(edited, *_)] = [call.args for call in edit.await_args_list]
    assert edited.id == post.id and edit.await_args.kwargs["view"] is None  # no live buttons
    post = await post.channel.fetch_message(post.id)
    assert post.content.startswith(f"✅ Review #{review_id} approved")


async def test_a_report_keeps_the_reporter_and_the_post_names_them(bot, fake_service):
    from bot.cogs.ask import AnswerButton

    question_id = fake_service.store.log_question(
        str(member_named("learner").id),
        str(channel_named("general").guild.id),
        "What is NF4?",
        False,
        Answer("What is NF4?").to_dict(),
    )
    reporter = member_named("classmate")
    interaction = interaction_for(
        bot, reporter, channel_named("general"), message=fake_message(channel_named("general"))
    )
    await AnswerButton("report", question_id).callback(interaction)
    posted = dpytest.get_message()
    review_id = int(posted.content.split("#", 1)[1].split("*", 1)[0])
    assert fake_service.store.get_review(review_id).reporter_id == str(reporter.id)
    assert f"reported by <@{reporter.id}>" in posted.content


async def test_review_list_groups_items_by_question_with_contradicted_and_reported_first(
    bot, fake_service
):
    guild = str(channel_named("general").guild.id)
    store = fake_service.store
    plain = Answer("What is int8?", sentences=[Sentence("int8 is 8 bits.", "uncertain", 0.4, [])])
    wrong = Answer(
        "Is NF4 lossless?", sentences=[Sentence("NF4 is lossless.", "contradicted", 0.1, [])]
    )
    older = store.add_review("What is int8?", plain.to_dict(), "1", guild)
    same = [
        store.add_review(q, plain.to_dict(), "2", guild) for q in ("what is INT8 ", "What is int8")
    ]
    contradicted = store.add_review("Is NF4 lossless?", wrong.to_dict(), "3", guild)
    gptq = Answer(
        "What is GPTQ?", sentences=[Sentence("GPTQ needs no data.", "uncertain", 0.4, [])]
    )
    reported = store.add_review("What is GPTQ?", gptq.to_dict(), "4", guild, reporter_id="5")
    listing = in_moderators(bot)
    await bot.get_cog("Review").review_list.callback(bot.get_cog("Review"), listing)
    lines = private_reply(listing).splitlines()
    assert lines[0].startswith("**5 pending** in **3 groups**")
    assert lines[1].startswith(f"**#{contradicted}** · ❌ contradicts the sources")
    assert lines[2].startswith(f"**#{reported}** · 🚩 reported")
    assert lines[3].startswith(f"**#{older}** (+2 more: #{same[0]}, #{same[1]})")
    for review_id in (older, *same, contradicted, reported):  # off the shared queue
        store.resolve_review(review_id, "rejected", "cleanup")


async def test_review_show_suggests_pending_ids_here_to_moderators_only(bot, fake_service):
    from tests.helpers.discord_fakes import autocomplete_payload, dispatch

    store, guild = fake_service.store, str(channel_named("general").guild.id)
    for left in store.list_reviews("pending", 1000, guild):  # other tests' items
        store.resolve_review(left.id, "rejected", "cleanup")
    plain = Answer("What is int8?", sentences=[Sentence("int8 is 8 bits.", "uncertain", 0.4, [])])
    first = store.add_review("What is int8?", plain.to_dict(), "1", guild)
    gptq = Answer("GPTQ?", sentences=[Sentence("GPTQ needs no data.", "uncertain", 0.4, [])])
    reported = store.add_review(
        "What is  GPTQ?\n" + "x" * 200, gptq.to_dict(), "2", guild, "", "", "5"
    )
    elsewhere = store.add_review("What is int8?", plain.to_dict(), "1", "42")

    def typed(text, user="moderator", permissions=MODERATOR):
        option = {"type": 4, "name": "id", "value": text, "focused": True}
        return autocomplete_payload(
            bot,
            member_named(user),
            channel_named("moderators"),
            "review",
            [{"type": 1, "name": "show", "options": [option]}],
            permissions=permissions,
        )

    [response] = (await dispatch(bot, typed(""))).calls
    choices = response["data"]["choices"]
    assert [c["value"] for c in choices] == [reported, first]  # reported first
    assert choices[0]["name"].startswith(f"#{reported} · 🚩 What is GPTQ? x")
    assert all(len(c["name"]) <= 100 for c in choices)
    assert elsewhere not in [c["value"] for c in choices]

    [response] = (await dispatch(bot, typed(str(first)))).calls
    assert [c["value"] for c in response["data"]["choices"]] == [first]
    [response] = (await dispatch(bot, typed("gptq"))).calls
    assert [c["value"] for c in response["data"]["choices"]] == [reported]

    learner = typed("", user="learner", permissions=discord.Permissions.none())
    [response] = (await dispatch(bot, learner)).calls
    assert response["data"]["choices"] == []  # the labels quote questions: moderators only
    for review_id in (first, reported, elsewhere):  # off the shared queue
        store.resolve_review(review_id, "rejected", "cleanup")


async def test_review_list_also_groups_different_questions_flagging_the_same_sentence(
    bot, fake_service
):
    store, guild = fake_service.store, str(channel_named("general").guild.id)
    for left in store.list_reviews("pending", 1000, guild):  # other tests' items
        store.resolve_review(left.id, "rejected", "cleanup")

    def flagging(question, *sentences):
        answer = Answer(question, sentences=[Sentence(t, "uncertain", 0.4, []) for t in sentences])
        return store.add_review(question, answer.to_dict(), "1", guild)

    first = flagging("What is NF4?", "NF4 never loses any accuracy.")
    second = flagging("Is QLoRA lossless?", "It depends.", "nf4 never loses any  accuracy")
    third = flagging("What does double quantization do?", "It depends.")  # too short to join
    listing = in_moderators(bot)
    await bot.get_cog("Review").review_list.callback(bot.get_cog("Review"), listing)
    lines = private_reply(listing).splitlines()
    assert lines[0].startswith("**3 pending** in **2 groups**")
    assert lines[1].startswith(f"**#{first}** (+1 more: #{second})")
    assert lines[1].endswith("· 2 questions, flagging “NF4 never loses any accuracy.”")
    assert lines[2].startswith(f"**#{third}** ·")
    for review_id in (first, second, third):  # off the shared queue
        store.resolve_review(review_id, "rejected", "cleanup")


async def test_a_correction_closes_the_pending_items_asking_the_same_question(bot, fake_service):
    general = channel_named("general")
    corrected = await flagged_item(fake_service, question="Is NF4 always lossless?")
    same = await flagged_item(fake_service, question="is nf4  always LOSSLESS")
    other = await flagged_item(fake_service, question="Is NF4 lossless for every model?")
    elsewhere = fake_service.store.add_review("Is NF4 always lossless?", {"model": "m"}, "1", "42")
    cog = bot.get_cog("Review")
    assert await cog.notify(general.guild, same)
    same_post = dpytest.get_message()  # the moderators' post of the duplicate, with buttons

    opened = await click(bot, "correct", corrected)
    modal = opened.response.send_modal.await_args.args[0]
    submit = in_moderators(bot)
    fill_modal(modal, submit, "NF4 is not lossless: it rounds each weight to 16 levels.")
    with patch.object(
        discord.Message, "edit", autospec=True, side_effect=discord.Message.edit
    ) as edit:
        await modal.on_submit(submit)

    closed = fake_service.store.get_review(same)
    assert (closed.status, closed.answered_by) == ("answered", corrected)
    assert closed.correction.startswith("NF4 is not lossless")
    assert fake_service.store.get_review(other).status == "pending"  # another question
    assert fake_service.store.get_review(elsewhere).status == "pending"  # another server
    told = submit.edit_original_response.await_args.kwargs["content"]
    assert f"also closed #{same}: the same question" in told
    [(edited, *_)] = [call.args for call in edit.await_args_list]
    assert edited.id == same_post.id and edit.await_args.kwargs["view"] is None
    assert (await same_post.channel.fetch_message(same_post.id)).content.startswith(
        f"✏️ Review #{same} closed: review #{corrected}'s correction"
    )
    outcomes = [dpytest.get_message(), dpytest.get_message()]  # under both original answers
    assert all(o.content.startswith("✏️ Reviewed by a moderator: corrected") for o in outcomes)
    assert all("16 levels" in o.content for o in outcomes)
    assert not (fake_service.corrections_dir / f"review-{same}.md").exists()  # one source
    again = await click(bot, "approve", same)
    assert "already answered" in private_reply(again)
    for review_id in (other, elsewhere):  # off the shared queue
        fake_service.store.resolve_review(review_id, "rejected", "cleanup")


async def test_correct_pressed_after_a_restart_opens_the_form_and_its_submission_counts(
    bot, fake_service, settings
):
    from tests.helpers.discord_fakes import dispatch, modal_payload, press_payload

    review_id = await flagged_item(fake_service, question="Is 1-bit quantization lossless?")
    restarted = await restart(bot, fake_service, settings)
    moderator, channel = member_named("moderator"), channel_named("moderators")

    custom_id = review_controls(review_id).children[2].custom_id  # review:correct:<id>
    press = press_payload(restarted, moderator, channel, custom_id, permissions=MODERATOR)
    [opened] = (await dispatch(restarted, press)).calls
    assert opened["type"] == 9  # MODAL: the correction form
    form = opened["data"]
    assert form["title"] == f"Correct review #{review_id}"
    assert form["components"][0]["component"]["type"] == 4  # a text input

    text = "1-bit weights lose most of the model's quality."
    submit = modal_payload(restarted, moderator, channel, form, text, permissions=MODERATOR)
    responses = await dispatch(restarted, submit)
    [deferred] = responses.calls  # taken once (by the form itself, not also as a stray one)
    assert deferred["type"] == 6  # deferred while the correction is indexed
    assert not responses.followups
    assert responses.edits[-1]["content"].startswith(f"✏️ Review #{review_id} corrected by")
    review = fake_service.store.get_review(review_id)
    assert (review.status, review.correction) == ("corrected", text)
    assert dpytest.get_message().content.startswith("✏️ Reviewed by a moderator: corrected")


async def restart(bot, fake_service, settings):
    """A new bot process on the same (fake) Discord: nothing in memory from before the
    restart but what its setup_hook registers; Discord's events now reach it."""
    from discord.ui.view import ViewStore

    state = bot._connection
    restarted = build_bot(fake_service, settings)
    await restarted._async_setup_hook()  # its event loop, as login would set it
    restarted._connection = state
    state._view_store = ViewStore(state)
    state._get_client, state.dispatch = (lambda: restarted), restarted.dispatch
    await restarted.setup_hook()
    return restarted


async def test_a_correction_form_opened_before_a_restart_is_taken_after_it(
    bot, fake_service, settings
):
    from tests.helpers.discord_fakes import dispatch, modal_payload, press_payload

    review_id = await flagged_item(fake_service, question="Is ternary quantization lossless?")
    moderator, channel = member_named("moderator"), channel_named("moderators")
    custom_id = review_controls(review_id).children[2].custom_id  # review:correct:<id>
    press = press_payload(bot, moderator, channel, custom_id, permissions=MODERATOR)
    [opened] = (await dispatch(bot, press)).calls  # the form is open...
    form = opened["data"]
    assert form["custom_id"] == f"review:correction:{review_id}"  # stable, not random

    restarted = await restart(bot, fake_service, settings)  # ...while the bot restarts
    text = "Ternary weights lose accuracy unless the model is trained for them."
    submit = modal_payload(restarted, moderator, channel, form, text, permissions=MODERATOR)
    responses = await dispatch(restarted, submit)
    [deferred] = responses.calls
    assert deferred["type"] == 6
    assert responses.edits[-1]["content"].startswith(f"✏️ Review #{review_id} corrected by")
    review = fake_service.store.get_review(review_id)
    assert (review.status, review.correction) == ("corrected", text)
    assert dpytest.get_message().content.startswith("✏️ Reviewed by a moderator: corrected")

    stranger = member_named("learner")  # a forged or stale form from a non-moderator
    other = await flagged_item(fake_service, question="Is binary quantization lossless?")
    form = {**form, "custom_id": f"review:correction:{other}"}
    forged = modal_payload(restarted, stranger, channel, form, "anything")
    assert "Only moderators" in (await dispatch(restarted, forged)).messages[-1]["content"]
    assert fake_service.store.get_review(other).status == "pending"
    fake_service.store.resolve_review(other, "rejected", "cleanup")  # off the shared queue
