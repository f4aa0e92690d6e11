"""Resolve the CloudFormation intrinsics template.yaml uses, against local resources."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

NO_VALUE = object()
_SUB_VARIABLE = re.compile(r"\$\{([^}!][^}]*)\}")


class Resolver:
    def __init__(
        self,
        template: Mapping[str, Any],
        *,
        parameters: Mapping[str, str],
        pseudo: Mapping[str, str],
        ref: Callable[[str], str],
        get_att: Callable[[str, str], str],
    ) -> None:
        self._template = template
        self._parameters = parameters
        self._pseudo = pseudo
        self._ref = ref
        self._get_att = get_att

    def __call__(self, value: Any) -> Any:
        if isinstance(value, list):
            return [item for item in (self(v) for v in value) if item is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((name, argument),) = value.items()
            handler = getattr(self, "_" + name.replace("Fn::", "fn_").replace("::", "_"), None)
            if handler is not None:
                return handler(argument)
        return {k: v for k, v in ((k, self(v)) for k, v in value.items()) if v is not NO_VALUE}

    def reference(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self._pseudo:
            return self._pseudo[name]
        if name in self._parameters:
            return self._parameters[name]
        return self._ref(name)

    def condition(self, name: str) -> bool:
        return bool(self(self._template.get("Conditions", {})[name]))

    def _Ref(self, name: str) -> Any:
        return self.reference(name)

    def _fn_GetAtt(self, argument: Any) -> str:
        logical, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
        return self._get_att(logical, attribute)

    def _fn_Sub(self, argument: Any) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else argument
        resolved = {k: self(v) for k, v in variables.items()}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in resolved:
                return str(resolved[name])
            if "." in name and not name.startswith("AWS::"):
                logical, attribute = name.split(".", 1)
                return self._get_att(logical, attribute)
            return str(self.reference(name))

        return _SUB_VARIABLE.sub(replace, text)

    def _fn_Join(self, argument: Any) -> str:
        separator, items = argument
        return str(separator).join(str(item) for item in self(items))

    def _fn_Split(self, argument: Any) -> list[str]:
        separator, text = argument
        return str(self(text)).split(str(separator))

    def _fn_Select(self, argument: Any) -> Any:
        index, items = argument
        return self(items)[int(self(index))]

    def _fn_FindInMap(self, argument: Any) -> Any:
        mapping, first, second = (self(part) for part in argument)
        return self._template["Mappings"][mapping][first][second]

    def _fn_If(self, argument: Any) -> Any:
        name, when_true, when_false = argument
        return self(when_true) if self.condition(name) else self(when_false)

    def _fn_Equals(self, argument: Any) -> bool:
        left, right = (self(part) for part in argument)
        return bool(left == right)

    def _fn_Not(self, argument: Any) -> bool:
        return not self(argument[0])

    def _fn_And(self, argument: Any) -> bool:
        return all(self(part) for part in argument)

    def _fn_Or(self, argument: Any) -> bool:
        return any(self(part) for part in argument)

    def _Condition(self, name: str) -> bool:
        return self.condition(name)
