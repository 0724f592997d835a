"""`--config FILE` for the long-running commands: every other option of the command gets a
key in the file, and a flag given on the command line overrides it (click's default_map)."""
from __future__ import annotations

import click

from llmesh.common.config_file import ConfigKey, check_config, key_name, read_config


def config_keys(command: click.Command) -> dict[str, ConfigKey]:
    """The keys a config file for ``command`` may hold, from its options."""
    keys = {}
    for param in command.params:
        if not isinstance(param, click.Option) or param.name in ("config", "help") or not param.expose_value:
            continue
        long = max(param.opts, key=len)
        keys[key_name(long)] = ConfigKey(param.name, _kind(param), bool(param.multiple),
                                         tuple(param.type.choices) if isinstance(param.type, click.Choice) else ())
    return keys


def _kind(param: click.Option) -> str:
    if param.is_flag:
        return "bool"
    # Ranges (click.IntRange, FloatRange) are numbers too: install writes them as TOML numbers.
    if isinstance(param.type, click.types.IntParamType):
        return "int"
    if isinstance(param.type, click.types.FloatParamType):
        return "float"
    return "path" if isinstance(param.type, click.Path) else "str"


def _load(ctx: click.Context, _param, value):
    if value:
        values = check_config(read_config(value), config_keys(ctx.command), value)
        ctx.default_map = {**(ctx.default_map or {}), **values}
    return value


config_option = click.option(
    "--config", metavar="FILE", is_eager=True, expose_value=False, callback=_load,
    help="A TOML file of this command's options (keys: the long option names, e.g. rescan_interval = 30); "
         "flags given here override it.")
