"""`dropzone completion bash|zsh`: a completion script built from the argument parser, so
it names every command, option and choice the CLI has, and needs nothing installed."""

from __future__ import annotations

import argparse
import shlex

_FUNCTION = """\
# dropzone shell completion (bash; zsh loads it through bashcompinit)
_dropzone_words() {
  case "$1" in
%(words)s
  esac
}
_dropzone() {
  local current="${COMP_WORDS[COMP_CWORD]}" previous="${COMP_WORDS[COMP_CWORD-1]}"
  local path="" word index
  for ((index = 1; index < COMP_CWORD; index++)); do
    word="${COMP_WORDS[index]}"
    case "$word" in
      -*) ;;
      *) if [ -n "$(_dropzone_words "${path:+$path }$word")" ]; then
           path="${path:+$path }$word"
         fi ;;
    esac
  done
  local choices
  choices="$(_dropzone_words "${path}|${previous}")"
  if [ -n "$choices" ]; then
    COMPREPLY=($(compgen -W "$choices" -- "$current"))
    return 0
  fi
  case "$previous" in
%(files)s
  esac
  COMPREPLY=($(compgen -W "$(_dropzone_words "$path")" -- "$current"))
}
"""

_BASH_FOOTER = "complete -o default -F _dropzone dropzone\n"
_ZSH_HEADER = "autoload -U +X bashcompinit && bashcompinit\n"


def _walk(
    parser: argparse.ArgumentParser, path: str, words: dict[str, list[str]], files: set[str]
) -> None:
    here: list[str] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                here.append(name)
                _walk(child, f"{path} {name}".strip(), words, files)
            continue
        options = [option for option in action.option_strings if option.startswith("--")]
        here.extend(options)
        for option in options:
            if action.choices:
                words[f"{path}|{option}"] = [str(choice) for choice in action.choices]
            elif action.type is not None and getattr(action.type, "__name__", "") == "Path":
                files.add(option)
    words[path] = here


def script(parser: argparse.ArgumentParser, shell: str) -> str:
    words: dict[str, list[str]] = {}
    files: set[str] = set()
    _walk(parser, "", words, files)
    cases = "\n".join(
        f"    {shlex.quote(key)}) echo {shlex.quote(' '.join(values))} ;;"
        for key, values in sorted(words.items())
        if values
    )
    file_cases = (
        f'    {"|".join(sorted(files))}) COMPREPLY=($(compgen -f -- "$current")); return 0 ;;'
        if files
        else "    '') ;;"
    )
    body = _FUNCTION % {"words": cases, "files": file_cases}
    return (_ZSH_HEADER if shell == "zsh" else "") + body + _BASH_FOOTER
