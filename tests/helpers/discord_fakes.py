"""Fakes for driving the bot: dpytest's guild for messages, spec'd mocks for interactions.

dpytest drives messages, not interactions: slash commands, buttons and modals are called
directly with an Interaction mock whose response, followup and edits record what the bot
sent. Every mock is autospecced with spec_set from discord.py's own classes, so a call
with a parameter the real method lacks, or an attribute the real object lacks, fails.
"""

import asyncio
import itertools
import json
from contextlib import contextmanager
from unittest.mock import MagicMock, create_autospec, patch

import aiohttp
import discord
import discord.ext.test as dpytest
from discord.webhook.async_ import AsyncWebhookAdapter

from tutor.answer import Answer, Sentence, SourceRef

_ids = itertools.count(1_100_000_000_000_000_000)
SEND_METHODS = ("send_message", "edit_message")


def spec_of(cls):
    """An instance of discord.py's `cls` as an autospec: real signatures, no other attributes."""
    return create_autospec(cls, spec_set=True, instance=True)


def channel_named(name: str) -> discord.TextChannel:
    return next(c for c in dpytest.get_config().channels if c.name == name)


def member_named(name: str) -> discord.Member:
    return next(m for m in dpytest.get_config().members if m.name == name)


def fake_message(channel, *, ephemeral: bool = False) -> discord.Message:
    message = spec_of(discord.Message)
    message.id = next(_ids)
    message.channel = channel
    message.flags = discord.MessageFlags(ephemeral=ephemeral)
    return message


def http_response(status: int, reason: str) -> aiohttp.ClientResponse:
    """The HTTP response inside a discord.HTTPException (Forbidden, NotFound)."""
    return MagicMock(spec_set=aiohttp.ClientResponse, status=status, reason=reason)


def interaction_for(
    bot,
    user: discord.Member,
    channel,
    *,
    permissions: discord.Permissions | None = None,
    message=None,
) -> discord.Interaction:
    """An interaction from `user` in `channel`; `message` is the one whose button was pressed."""
    interaction = spec_of(discord.Interaction)
    interaction.id = next(_ids)
    interaction.created_at = discord.utils.utcnow()
    interaction.client = bot
    interaction.user = user
    interaction.guild = getattr(channel, "guild", None)  # None in a direct message
    interaction.guild_id = interaction.guild.id if interaction.guild else None
    interaction.channel = channel
    interaction.channel_id = channel.id
    interaction.permissions = permissions or discord.Permissions.none()
    interaction.message = message
    interaction.command = None
    interaction.data = {}

    response = spec_of(discord.InteractionResponse)
    answered = ("defer", "send_message", "edit_message", "send_modal")
    response.is_done.side_effect = lambda: any(
        getattr(response, name).await_count for name in answered
    )
    interaction.response = response
    interaction.followup = spec_of(discord.Webhook)
    interaction.followup.send.side_effect = lambda *a, **k: fake_message(channel)
    interaction.edit_original_response.side_effect = lambda **k: fake_message(channel)
    return interaction


def dm_channel(user: discord.abc.User) -> discord.DMChannel:
    """A direct message channel with `user`."""
    channel = spec_of(discord.DMChannel)
    channel.id = next(_ids)
    channel.recipient = user
    channel.guild = None
    return channel


def from_learner(bot, name: str = "learner") -> discord.Interaction:
    """An interaction from the member `name` in #general."""
    return interaction_for(bot, member_named(name), channel_named("general"))


def sent(interaction) -> list[tuple[str, str | None, dict]]:
    """Every message the bot sent or edited for this interaction: (how, content, kwargs)."""
    calls = [("edit_original", c) for c in interaction.edit_original_response.await_args_list]
    calls += [("followup", c) for c in interaction.followup.send.await_args_list]
    for name in SEND_METHODS:
        calls += [(name, c) for c in getattr(interaction.response, name).await_args_list]
    out = []
    for how, call in calls:
        content = call.args[0] if call.args else call.kwargs.get("content")
        out.append((how, content, call.kwargs))
    return out


def texts(interaction) -> list[str]:
    return [content for _, content, _ in sent(interaction) if content]


def private_reply(interaction) -> str:
    """The ephemeral reply the user got (a refusal, a thank-you), checked to be ephemeral."""
    replies = [
        (content, kwargs)
        for how, content, kwargs in sent(interaction)
        if how in ("send_message", "followup")
    ]
    assert replies, "nothing was replied"
    content, kwargs = replies[-1]
    assert kwargs.get("ephemeral") is True, f"not ephemeral: {content!r}"
    return content


def assert_no_pings(interaction) -> None:
    """Every send and edit carries AllowedMentions.none(), and no raw @everyone/@here."""
    for how, content, kwargs in sent(interaction):
        assert kwargs.get("allowed_mentions") is not None, f"{how} without allowed_mentions"
        assert kwargs["allowed_mentions"].to_dict() == {"parse": []}, how
        assert "@everyone" not in (content or "") and "@here" not in (content or "")


async def button_for(bot, custom_id: str, interaction) -> discord.ui.DynamicItem:
    """The button a press on `custom_id` reaches, resolved as discord.py resolves it: from
    the patterns registered at start, with nothing else in memory."""
    registered = bot._connection._view_store._dynamic_items
    factory = next(cls for pattern, cls in registered.items() if pattern.fullmatch(custom_id))
    match = factory.__discord_ui_compiled_template__.fullmatch(custom_id)
    return await factory.from_custom_id(interaction, discord.ui.Button(custom_id=custom_id), match)


def fill_modal(modal: discord.ui.Modal, interaction, text: str) -> None:
    """Fill the modal's text input as Discord's submit payload would."""
    field = next(i for i in modal.walk_children() if isinstance(i, discord.ui.TextInput))
    submitted = {"type": 4, "custom_id": field.custom_id, "value": text}
    modal._refresh(interaction, [{"type": 18, "component": submitted}], {})


def long_answer(sentences: int = 60) -> Answer:
    """An answer several messages long, every third sentence flagged, hostile text inside."""
    lead = [
        Sentence(f"Source sentence {i} says int8 needs about 7 GB for 7B.", "supported", 0.9, [1])
        for i in range(sentences // 2)
    ]
    draft = [
        Sentence(
            f"Draft {i} @everyone see [this](https://evil.example) and <@123456789012345678>.",
            "uncertain" if i % 3 == 0 else "supported",
            0.4,
            [2, 3],
            reason="no source backs it",
        )
        for i in range(sentences // 2)
    ]
    sources = [
        SourceRef(n, f"Title {n} **bold** @here", f"Author {n}", "A quote. " * 200)
        for n in range(1, 4)
    ]
    return Answer("Why @everyone? [click](https://evil.example)", "answer", lead + draft, sources)


# -- discord.py's own dispatch: a real Interaction from a payload, over a fake HTTP layer --


class Responses:
    """What the bot answered through Discord's interaction endpoints (the network, faked)."""

    def __init__(self, channel):
        self.channel = channel  # where the interaction came from
        self.calls: list[dict] = []
        self.followups: list[dict] = []
        self.edits: list[dict] = []  # of the original response
        self.files: dict[str, bytes] = {}  # attachments sent, by file name

    def _keep(self, files) -> None:
        for file in files or ():
            file.reset()
            self.files[file.filename] = file.fp.read()

    async def create_interaction_response(
        self, interaction_id, token, *, session, proxy=None, proxy_auth=None, params
    ):
        self.calls.append(params.payload or _multipart_payload(params.multipart))
        self._keep(params.files)
        return {"interaction": {"id": str(interaction_id), "type": 2}}

    async def edit_original_interaction_response(self, *args, payload=None, **kwargs):
        self.edits.append(payload or {})
        return message_data(next(_ids), self.channel.id, self.channel.guild.me, "")

    async def execute_webhook(self, *args, payload=None, multipart=None, files=None, **kwargs):
        self.followups.append(payload or _multipart_payload(multipart))
        self._keep(files)
        return message_data(next(_ids), self.channel.id, self.channel.guild.me, "")

    @property
    def messages(self) -> list[dict]:
        """Each response's message data (content, flags, ...), then each follow-up's."""
        return [call.get("data") or {} for call in self.calls] + self.followups


def _multipart_payload(multipart) -> dict:
    """The JSON part of a request sent with files (the rest are the files)."""
    part = next((p for p in multipart or () if p["name"] == "payload_json"), None)
    return json.loads(part["value"]) if part else {}


def command_payload(
    bot,
    user: discord.Member,
    channel,
    name: str,
    options: list[dict],
    *,
    permissions: discord.Permissions | None = None,
    resolved: dict | None = None,
    **data,
) -> dict:
    """The INTERACTION_CREATE payload Discord sends for `/name options...` from `user`
    (`data` adds to the command's data: type 3 and target_id for a message menu)."""
    guild = channel.guild
    perms = str((permissions or discord.Permissions.none()).value)
    return {
        "id": str(discord.utils.time_snowflake(discord.utils.utcnow())),  # sent just now
        "application_id": str(next(_ids)),
        "type": 2,
        "token": "interaction-token",
        "version": 1,
        "guild_id": str(guild.id),
        "channel_id": str(channel.id),
        "channel": {
            "id": str(channel.id),
            "type": 0,
            "guild_id": str(guild.id),
            "name": channel.name,
        },
        "member": {
            "user": {
                "id": str(user.id),
                "username": user.name,
                "discriminator": "0",
                "global_name": None,
                "avatar": None,
            },
            "roles": [str(r.id) for r in getattr(user, "roles", ())[1:]],
            "joined_at": "2026-01-01T00:00:00+00:00",
            "deaf": False,
            "mute": False,
            "flags": 0,
            "permissions": perms,
        },
        "app_permissions": str(discord.Permissions.all().value),
        "locale": "en-US",
        "guild_locale": "en-US",
        "entitlements": [],
        "attachment_size_limit": 10 * 1024 * 1024,
        "authorizing_integration_owners": {},
        "context": 0,
        "data": {
            "id": str(next(_ids)),
            "name": name,
            "type": 1,
            "options": options,
            "resolved": resolved or {},
            **data,
        },
    }


async def dispatch(bot, payload: dict) -> Responses:
    """Deliver `payload` as the gateway does: the command tree finds the command, converts
    the options, runs checks, the callback and the error handler (an autocomplete, type 4,
    its autocomplete callback; a button press, type 3, the view store finds the button from
    its custom_id, as after a restart; a form submitted, type 5, the form the bot sent);
    responses are recorded."""
    responses = Responses(bot.get_channel(int(payload["channel_id"])))
    with _fake_interaction_endpoints(responses):
        if payload["type"] in (3, 5):  # as the gateway's INTERACTION_CREATE is parsed
            before = asyncio.all_tasks()
            bot._connection.parse_interaction_create(payload)  # and the "interaction" event
            await asyncio.gather(*(asyncio.all_tasks() - before))
        else:
            await bot.tree._call(discord.Interaction(data=payload, state=bot._connection))
    return responses


def press_payload(bot, user, channel, custom_id: str, *, permissions=None) -> dict:
    """The INTERACTION_CREATE payload of a press on the button `custom_id`, on a message of
    the bot's that carries it (as Discord sends it, with the message's components)."""
    payload = command_payload(bot, user, channel, "", [], permissions=permissions)
    message = message_data(next(_ids), channel.id, bot.user, "")
    button = {"type": 2, "style": 1, "label": "?", "custom_id": custom_id}
    message["components"] = [{"type": 1, "components": [button]}]
    payload.update(type=3, message=message, data={"custom_id": custom_id, "component_type": 2})
    return payload


def modal_payload(bot, user, channel, form: dict, text: str, *, permissions=None) -> dict:
    """The payload of submitting the form `form` (as the bot sent it: a modal's data) with
    `text` in its text input."""
    payload = command_payload(bot, user, channel, "", [], permissions=permissions)
    [label] = form["components"]
    field = {"type": 4, "custom_id": label["component"]["custom_id"], "value": text}
    components = [{"type": 18, "id": label.get("id", 1), "component": field}]
    payload.update(type=5, data={"custom_id": form["custom_id"], "components": components})
    return payload


def autocomplete_payload(bot, user, channel, name: str, options: list[dict], **kwargs) -> dict:
    """The payload of an autocomplete request: `options` with the one being typed marked
    `"focused": True`."""
    payload = command_payload(bot, user, channel, name, options, **kwargs)
    payload["type"] = 4
    return payload


@contextmanager
def _fake_interaction_endpoints(responses: Responses):
    with (
        patch.object(
            AsyncWebhookAdapter,
            "create_interaction_response",
            autospec=True,
            side_effect=lambda adapter, *a, **k: responses.create_interaction_response(*a, **k),
        ),
        patch.object(
            AsyncWebhookAdapter,
            "edit_original_interaction_response",
            autospec=True,
            side_effect=lambda adapter, *a, **k: responses.edit_original_interaction_response(
                *a, **k
            ),
        ),
        patch.object(
            AsyncWebhookAdapter,
            "execute_webhook",
            autospec=True,
            side_effect=lambda adapter, *a, **k: responses.execute_webhook(*a, **k),
        ),
    ):
        yield


def message_data(message_id: int, channel_id: int, author, content: str) -> dict:
    """A message as Discord's API sends it."""
    return {
        "id": str(message_id),
        "channel_id": str(channel_id),
        "author": {
            "id": str(author.id),
            "username": author.name,
            "discriminator": "0",
            "global_name": None,
            "avatar": None,
        },
        "content": content,
        "timestamp": "2026-01-01T00:00:00+00:00",
        "edited_timestamp": None,
        "tts": False,
        "mention_everyone": False,
        "mentions": [],
        "mention_roles": [],
        "attachments": [],
        "embeds": [],
        "pinned": False,
        "type": 0,
    }


def message_menu_payload(bot, user, channel, name: str, message: discord.Message) -> dict:
    """The payload of a message context menu (`name`) used on `message`."""
    target = message_data(message.id, channel.id, message.author, message.content)
    return command_payload(
        bot,
        user,
        channel,
        name,
        [],
        type=3,
        target_id=str(message.id),
        resolved={"messages": {str(message.id): target}},
    )
