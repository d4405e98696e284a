"""--cfg-options: every value form of the MMEngine syntax, key paths, and the errors."""
import pytest

from mlpose.config import ConfigDict, apply_options, parse_options, parse_value, split_options
from mlpose.errors import ConfigError


@pytest.mark.parametrize("text, expected", [
    ("3", 3), ("-2", -2), ("1e-3", 0.001), ("0.5", 0.5),
    ("true", True), ("False", False), ("TRUE", True),
    ("None", None), ("none", "none"), ("null", "null"),
    ("Adam", "Adam"), ("a,b", ["a", "b"]), ("1,2,3", [1, 2, 3]),
    ("[a,b]", ["a", "b"]), ("(1,2)", (1, 2)), ("[]", []),
    ("[(a,b),(c,d)]", [("a", "b"), ("c", "d")]), ("'[(1,2),(3,4)]'", [(1, 2), (3, 4)]),
    ("\"[1,[2,3]]\"", [1, [2, 3]]), ("[1],[2]", [[1], [2]]), ("(192,256)", (192, 256)),
])
def test_value_forms(text, expected):
    assert parse_value(text) == expected
    assert type(parse_value(text)) is type(expected)


@pytest.mark.parametrize("text", ["[1,2", "(a,b", "[(a,b],c)", "1,2]"])
def test_unbalanced_brackets_rejected(text):
    with pytest.raises(ConfigError, match="unbalanced"):
        parse_value(text, "key")


def test_parse_options_requires_key_value():
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_options(["lr"])
    assert parse_options(["a.b=1", "c=x,y"]) == {"a.b": 1, "c": ["x", "y"]}


def _cfg():
    return ConfigDict(
        optim_wrapper=dict(optimizer=dict(type="Adam", lr=5e-4)),
        train_pipeline=[dict(type="LoadImage"), dict(type="TopdownAffine", input_size=(192, 256))],
        randomness=dict(seed=None),
    )


def test_dotted_keys_and_list_indices():
    cfg = _cfg()
    apply_options(cfg, parse_options([
        "optim_wrapper.optimizer.lr=0.01", "train_pipeline.1.input_size=(96,128)",
        "train_pipeline.0.type=LoadImageFast", "randomness.seed=2023",
    ]))
    assert cfg.optim_wrapper.optimizer.lr == 0.01
    assert cfg.train_pipeline[1].input_size == (96, 128)
    assert cfg.train_pipeline[0].type == "LoadImageFast"
    assert cfg.randomness.seed == 2023


def test_missing_key_names_path_and_closest():
    with pytest.raises(ConfigError) as err:
        apply_options(_cfg(), {"optim_wrapper.optimiser.lr": 1.0}, "my.py")
    msg = str(err.value)
    assert "optim_wrapper.optimiser" in msg and "my.py" in msg
    assert "optim_wrapper.optimizer.lr" in msg  # the closest existing key
    assert "+optim_wrapper.optimiser.lr" in msg  # how to add it on purpose


def test_schema_keys_a_file_leaves_out_are_set_and_misspelt_ones_named():
    """MMPose's files have no ``randomness`` (MMEngine's runner defaults it): the guide's
    ``--cfg-options randomness.seed=0`` must work on them, as in MMEngine."""
    cfg = ConfigDict(model=dict(type="TopdownPoseEstimator"))
    apply_options(cfg, parse_options(["randomness.seed=0", "env_cfg.cudnn_benchmark=true", "load_from=w.pth"]))
    assert cfg.randomness.seed == 0 and cfg.env_cfg.cudnn_benchmark is True and cfg.load_from == "w.pth"
    with pytest.raises(ConfigError, match=r"randomness\.sed.*closest existing keys: randomness\.seed"):
        apply_options(ConfigDict(), {"randomness.sed": 0}, "hrnet.py")
    with pytest.raises(ConfigError, match="randomness.seed.x"):  # only the schema's own depth
        apply_options(ConfigDict(), {"randomness.seed.x": 0}, "hrnet.py")


def test_plus_prefix_adds_new_keys():
    cfg = _cfg()
    apply_options(cfg, parse_options(["+tracking.register_model=pose", "+optim_wrapper.clip_grad=None"]))
    assert cfg.tracking.register_model == "pose"
    assert "clip_grad" in cfg.optim_wrapper and cfg.optim_wrapper.clip_grad is None


def test_list_index_out_of_range():
    with pytest.raises(ConfigError, match="indexes a list of 2 items"):
        apply_options(_cfg(), {"train_pipeline.5.type": "X"})


@pytest.mark.parametrize("text, expected", [
    ("'/data/my set/'", "/data/my set/"), ('"a,b"', "a,b"), ("'007'", "007"), ("'None'", "None"),
    ("/data/my set/", "/data/my set/"),  # what a shell leaves of data_root='/data/my set/'
    ("[' a b', 'c,d', x]", [" a b", "c,d", "x"]), ("('[1,2]', 3)", ("[1,2]", 3)),
    ("/data/bob's files/", "/data/bob's files/"),  # a quote inside a word is a character
    ("'/data/a,b/'", "/data/a,b/"), ("[a, , b]", ["a", "", "b"]), ("1 2", "1 2"),
])
def test_quotes_keep_a_string_whole(text, expected):
    assert parse_value(text, "key") == expected and type(parse_value(text, "key")) is type(expected)


def test_an_unclosed_quote_is_one_line():
    with pytest.raises(ConfigError, match=r"--cfg-options key: the quote ' at character 5 of \"\[a, 'b\]\" is never "
                                          "closed"):
        parse_value("[a, 'b]", "key")


def test_a_shell_unquoted_value_with_spaces_stays_one_item():
    assert split_options("data_root=/data/my  set/ b=2") == ["data_root=/data/my  set/", "b=2"]
    assert split_options("x='a b' y=[1, 2]") == ["x='a b'", "y=[1, 2]"]
    assert parse_options(split_options("data_root=/data/my set/")) == {"data_root": "/data/my set/"}
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        parse_options(split_options("stray"))
