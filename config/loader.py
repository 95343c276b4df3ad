"""Load config files: merge defaults into accounts, validate everything, collect all issues."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, TypeVar

from pydantic import BaseModel, ValidationError

from config.checks import account_warnings
from config.errors import ConfigError, Issue, ValidationResult
from config.merge import (
    STRATEGIES,
    MergeFunction,
    deep_merge,
    load_merge_function,
    merge_account,
    merge_preset,
    preset_name,
)
from config.models import (
    PRESET_CAPITAL_RULE,
    AccountConfig,
    AlertsConfig,
    ApiConfig,
    GroupConfig,
    MtqConfig,
    NewsConfig,
    StrategyConfig,
    StreamsConfig,
    SupervisorConfig,
    group_issues,
    strategy_issues,
)
from config.presets import available_presets, load_preset
from config.translate import error_details
from config.yaml_source import KeyPath, SourceFile, read_source

TOP_LEVEL_KEYS: Final = (
    "defaults",
    "supervisor",
    "streams",
    "api",
    "alerts",
    "strategies",
    "groups",
    "news",
    "merge",
    "merge_function",
    "accounts",
)
_SKIP_IN_DEFAULTS: Final = frozenset({"required", "symbols_required", PRESET_CAPITAL_RULE})
_RULE_KEY: Final[dict[str, KeyPath]] = {PRESET_CAPITAL_RULE: ("risk", "initial_capital")}
"""Account-level rules reported at the key the user must add."""

PathsArg = str | Path | Iterable[str | Path]
_M = TypeVar("_M", bound=BaseModel)


def validate_files(paths: PathsArg) -> ValidationResult:
    """Check config files; raises ConfigFileError only when a file cannot be read."""
    return check_config(paths)[1]


def check_config(paths: PathsArg) -> tuple[MtqConfig | None, ValidationResult]:
    """Load and check; the config is None whenever the result has errors."""
    return _Build(_as_paths(paths)).run()


def load_config(paths: PathsArg) -> MtqConfig:
    """Load and merge config files; ConfigError (with `.result`) when anything is wrong."""
    config, result = _Build(_as_paths(paths)).run()
    if config is None or not result.valid:
        raise ConfigError.from_result(result)
    return config


def _as_paths(paths: PathsArg) -> tuple[str, ...]:
    if isinstance(paths, str | Path):
        return (str(paths),)
    return tuple(str(p) for p in paths)


@dataclass
class _Build:
    paths: tuple[str, ...]
    errors: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)
    defaults: dict[str, Any] = field(default_factory=dict)
    supervisor: dict[str, Any] = field(default_factory=dict)
    streams: dict[str, Any] = field(default_factory=dict)
    api: dict[str, Any] = field(default_factory=dict)
    alerts: dict[str, Any] = field(default_factory=dict)
    news: dict[str, Any] = field(default_factory=dict)
    strategy: str = "default"
    function_spec: tuple[SourceFile, str] | None = None
    accounts: list[tuple[SourceFile, int, Mapping[str, Any]]] = field(default_factory=list)
    strategies: list[tuple[SourceFile, int, StrategyConfig]] = field(default_factory=list)
    groups: list[tuple[SourceFile, int, GroupConfig]] = field(default_factory=list)
    defaults_error_locs: set[KeyPath] = field(default_factory=set)

    def run(self) -> tuple[MtqConfig | None, ValidationResult]:
        if not self.paths:
            self.errors.append(Issue("", "", "no_files", "no config file given"))
        for path in self.paths:
            source, issues = read_source(path)
            self.errors.extend(issues)
            if source is not None:
                self._take_file(source)
        function = self._merge_function()
        built = self._build_accounts(function)
        supervisor = _quiet(SupervisorConfig, self.supervisor)
        streams = _quiet(StreamsConfig, self.streams)
        api = _quiet(ApiConfig, self.api)
        alerts = _quiet(AlertsConfig, self.alerts)
        self._check_strategies(tuple(a.id for a in built))
        self._check_groups(tuple(a.id for a in built))
        config = None
        if (
            not self.errors
            and supervisor is not None
            and streams is not None
            and api is not None
            and alerts is not None
        ):
            config = MtqConfig(
                accounts=tuple(built),
                supervisor=supervisor,
                streams=streams,
                api=api,
                alerts=alerts,
                strategies=tuple(s for _, _, s in self.strategies),
                groups=tuple(g for _, _, g in self.groups),
                news=_quiet(NewsConfig, self.news) or NewsConfig(),
                source=self.paths,
            )
            if not config.enabled_accounts():
                self.warnings.append(
                    Issue(self.paths[-1], "accounts", "no_enabled_accounts", "no account enabled")
                )
        result = ValidationResult(
            tuple(sorted(self.errors, key=self._order)),
            tuple(sorted(self.warnings, key=self._order)),
            self.paths,
        )
        return config, result

    def _order(self, issue: Issue) -> tuple[int, int, int]:
        rank = self.paths.index(issue.file) if issue.file in self.paths else -1
        return rank, issue.line or 0, issue.column or 0

    # --- one file ------------------------------------------------------------

    def _take_file(self, src: SourceFile) -> None:
        data = src.data
        if data is None:
            self.warnings.append(src.issue((), "empty_file", "file is empty"))
            return
        if not isinstance(data, Mapping):
            self.errors.append(
                src.issue(
                    (), "type", f"top level must be a mapping with {', '.join(TOP_LEVEL_KEYS)}"
                )
            )
            return
        for key in data:
            if key not in TOP_LEVEL_KEYS:
                self.errors.append(
                    src.issue(
                        (str(key),),
                        "unknown_key",
                        f"unknown key {key!r}; known keys: {', '.join(TOP_LEVEL_KEYS)}",
                    )
                )
        defaults = self._section(src, data, "defaults")
        if defaults is not None:
            self._check_defaults(src, defaults)
            self.defaults = deep_merge(self.defaults, defaults)
        sections: tuple[tuple[str, type[BaseModel]], ...] = (
            ("supervisor", SupervisorConfig),
            ("streams", StreamsConfig),
            ("api", ApiConfig),
            ("alerts", AlertsConfig),
            ("news", NewsConfig),
        )
        for name, model in sections:
            section = self._section(src, data, name)
            if section is not None:
                self._check(src, (name,), model, section)
                setattr(self, name, deep_merge(getattr(self, name), section))
        self._take_merge_settings(src, data)
        self._take_accounts(src, data.get("accounts"))
        self._take_strategies(src, data.get("strategies"))
        self._take_groups(src, data.get("groups"))

    def _take_groups(self, src: SourceFile, groups: Any) -> None:
        if groups is None:
            return
        if not isinstance(groups, list):
            self.errors.append(src.issue(("groups",), "type", "groups must be a list"))
            return
        for i, raw in enumerate(groups):
            try:
                self.groups.append((src, i, GroupConfig.model_validate(raw)))
            except ValidationError as exc:
                for loc, rule, message in error_details(exc, GroupConfig):
                    self.errors.append(src.issue(("groups", i, *loc), rule, message))

    def _check_groups(self, account_ids: tuple[str, ...]) -> None:
        found = tuple(g for _, _, g in self.groups)
        for index, loc, rule, message in group_issues(found, account_ids):
            src, i, _ = self.groups[index]
            self.errors.append(src.issue(("groups", i, *loc), rule, message))

    def _take_strategies(self, src: SourceFile, strategies: Any) -> None:
        if strategies is None:
            return
        if not isinstance(strategies, list):
            self.errors.append(src.issue(("strategies",), "type", "strategies must be a list"))
            return
        for i, raw in enumerate(strategies):
            try:
                self.strategies.append((src, i, StrategyConfig.model_validate(raw)))
            except ValidationError as exc:
                for loc, rule, message in error_details(exc, StrategyConfig):
                    self.errors.append(src.issue(("strategies", i, *loc), rule, message))

    def _check_strategies(self, account_ids: tuple[str, ...]) -> None:
        found = tuple(s for _, _, s in self.strategies)
        for index, loc, rule, message in strategy_issues(found, account_ids):
            src, i, _ = self.strategies[index]
            self.errors.append(src.issue(("strategies", i, *loc), rule, message))

    def _section(self, src: SourceFile, data: Mapping[str, Any], key: str) -> dict[str, Any] | None:
        value = data.get(key)
        if value is None:
            return None
        if not isinstance(value, Mapping):
            self.errors.append(src.issue((key,), "type", f"{key} must be a mapping"))
            return None
        return dict(value)

    def _check_defaults(self, src: SourceFile, defaults: Mapping[str, Any]) -> None:
        if "id" in defaults:
            self.errors.append(
                src.issue(("defaults", "id"), "defaults_id", "defaults cannot set an account id")
            )
        candidate = {**defaults, "id": "defaults"}
        try:
            AccountConfig.model_validate(candidate)
        except ValidationError as exc:
            for loc, rule, message in error_details(exc, AccountConfig):
                if rule in _SKIP_IN_DEFAULTS:
                    continue
                self.defaults_error_locs.add(loc)
                self.errors.append(src.issue(("defaults", *loc), rule, message))

    def _check(self, src: SourceFile, at: KeyPath, model: type[BaseModel], data: Any) -> None:
        try:
            model.model_validate(data)
        except ValidationError as exc:
            for loc, rule, message in error_details(exc, model):
                self.errors.append(src.issue((*at, *loc), rule, message))

    def _take_merge_settings(self, src: SourceFile, data: Mapping[str, Any]) -> None:
        strategy = data.get("merge")
        if strategy is not None:
            if strategy in STRATEGIES:
                self.strategy = str(strategy)
            else:
                self.errors.append(
                    src.issue(("merge",), "choice", f"merge must be one of {', '.join(STRATEGIES)}")
                )
        spec = data.get("merge_function")
        if spec is not None:
            if isinstance(spec, str):
                self.function_spec = (src, spec)
            else:
                self.errors.append(
                    src.issue(("merge_function",), "type", "merge_function must be a string")
                )

    def _take_accounts(self, src: SourceFile, accounts: Any) -> None:
        if accounts is None:
            return
        if not isinstance(accounts, list):
            self.errors.append(src.issue(("accounts",), "type", "accounts must be a list"))
            return
        for i, raw in enumerate(accounts):
            if isinstance(raw, Mapping):
                self.accounts.append((src, i, raw))
            else:
                self.errors.append(src.issue(("accounts", i), "type", "an account is a mapping"))

    # --- across files ------------------------------------------------------------

    def _merge_function(self) -> MergeFunction | None:
        if self.strategy != "custom":
            return None
        if self.function_spec is None:
            where = self.paths[-1] if self.paths else ""
            self.errors.append(
                Issue(
                    where,
                    "merge_function",
                    "merge_function",
                    "merge: custom needs merge_function: 'package.module:callable'",
                )
            )
            return None
        src, spec = self.function_spec
        try:
            return load_merge_function(spec)
        except ConfigError as exc:
            self.errors.append(src.issue(("merge_function",), "merge_function", str(exc)))
            return None

    def _build_accounts(self, function: MergeFunction | None) -> list[AccountConfig]:
        built: list[AccountConfig] = []
        seen: dict[str, tuple[SourceFile, int]] = {}
        if self.strategy == "custom" and function is None:
            return built
        for src, i, raw in self.accounts:
            at: KeyPath = ("accounts", i)
            account_id = raw.get("id")
            duplicate = False
            if isinstance(account_id, str):
                first = seen.setdefault(account_id, (src, i))
                duplicate = first != (src, i)
                if duplicate:
                    self._duplicate(account_id, first, (src, i))
            account = self._one_account(src, at, raw, function)
            if account is None or duplicate:
                continue
            built.append(account)
            for loc, rule, message in account_warnings(account):
                self.warnings.append(src.issue((*at, *loc), rule, message))
        return built

    def _duplicate(
        self, account_id: str, first: tuple[SourceFile, int], again: tuple[SourceFile, int]
    ) -> None:
        (other, j), (src, i) = first, again
        self.errors.append(
            src.issue(
                ("accounts", i, "id"),
                "duplicate_id",
                f"account id {account_id!r} is defined twice: in {other.name} (accounts[{j}]) "
                f"and in {src.name} (accounts[{i}])",
            )
        )

    def _one_account(
        self,
        src: SourceFile,
        at: KeyPath,
        raw: Mapping[str, Any],
        function: MergeFunction | None,
    ) -> AccountConfig | None:
        try:
            merged = merge_account(self.strategy, self.defaults, raw, function)
        except Exception as exc:  # noqa: BLE001 - a custom merge function may raise anything
            self.errors.append(src.issue(at, "merge_function", f"merge failed: {exc}"))
            return None
        with_preset = self._with_preset(src, at, raw, merged)
        if with_preset is None:
            return None
        try:
            return AccountConfig.model_validate(with_preset)
        except ValidationError as exc:
            for loc, rule, message in error_details(exc, AccountConfig):
                if loc in self.defaults_error_locs and not _present(raw, loc):
                    continue  # inherited from defaults: already reported there
                key = _RULE_KEY.get(rule, loc)
                self.errors.append(src.issue((*at, *key), rule, message))
            return None

    def _with_preset(
        self, src: SourceFile, at: KeyPath, raw: Mapping[str, Any], merged: dict[str, Any]
    ) -> dict[str, Any] | None:
        """`merged` with the named preset under the account's risk keys (None: reported)."""
        name = preset_name(self.defaults, raw)
        if name is None:
            return merged
        where = (*at, "risk", "preset") if _present(raw, ("risk", "preset")) else at
        if not isinstance(name, str) or name not in available_presets():
            self.errors.append(
                src.issue(
                    where,
                    "unknown_preset",
                    f"unknown preset {name!r}; available presets: {', '.join(available_presets())}",
                )
            )
            return None
        try:
            preset = load_preset(name)
        except ConfigError as exc:
            self.errors.append(src.issue(where, "preset", str(exc)))
            return None
        return merge_preset(self.strategy, self.defaults, raw, merged, preset)


def _present(data: Any, loc: KeyPath) -> bool:
    for part in loc:
        if isinstance(part, int):
            if not isinstance(data, list) or part >= len(data):
                return False
        elif not isinstance(data, Mapping) or part not in data:
            return False
        data = data[part]
    return True


def _quiet(model: type[_M], data: Mapping[str, Any]) -> _M | None:
    try:
        return model.model_validate(data)
    except ValidationError:
        return None  # already reported per file
