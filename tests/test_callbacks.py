"""Callbacks and the progress bar, driven as `Model.fit` drives them, on a small fake model.
Expected values follow Keras 3's rules (checked against keras 3.15 on the same sequences)."""
import csv
import re

import numpy as np
import pytest

from deepmath import callbacks as cbm
from deepmath import progbar as pbm
from deepmath.callbacks import (CallbackList, CSVLogger, EarlyStopping, History,
                                LambdaCallback, LearningRateScheduler, ModelCheckpoint,
                                ProgbarLogger, ReduceLROnPlateau, TerminateOnNaN)
from deepmath.layers import Dense, Input
from deepmath.models import Sequential
from deepmath.progbar import Progbar


class FakeOptimizer:
    def __init__(self, learning_rate=0.1):
        self.learning_rate = learning_rate


class FakeModel:
    """What callbacks use of a model: weights, stop_training, optimizer, save*."""

    def __init__(self):
        self.weights = [np.zeros((2, 2)), np.zeros(2)]
        self.stop_training = False
        self.optimizer = FakeOptimizer()
        self.history = None
        self.saved = []

    def get_weights(self):
        return [w.copy() for w in self.weights]

    def set_weights(self, weights):
        self.weights = [np.array(w) for w in weights]

    def save(self, path):
        self.saved.append(("model", path))
        open(path, "w").close()

    def save_weights(self, path):
        self.saved.append(("weights", path))
        open(path, "w").close()


def fit(model, callbacks, epoch_logs, steps=1, verbose=0, batch_logs=None):
    """Call the hooks in fit's order; epoch e's weights are all e. Returns the History."""
    cbs = CallbackList(callbacks, add_history=True, add_progbar=verbose != 0, model=model,
                       verbose=verbose, epochs=len(epoch_logs), steps=steps)
    model.stop_training = False
    logs = {}
    cbs.on_train_begin()
    for epoch, logs in enumerate(epoch_logs):
        logs = dict(logs)
        cbs.on_epoch_begin(epoch)
        model.weights = [np.full_like(w, epoch) for w in model.weights]
        for step in range(steps):
            cbs.on_train_batch_begin(step)
            cbs.on_train_batch_end(step, dict(batch_logs[epoch][step]) if batch_logs
                                   else {"loss": logs.get("loss", 0.0)})
            if model.stop_training:
                break
        cbs.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    cbs.on_train_end(logs)
    return model.history


def val_losses(*values):
    return [{"loss": 1.0, "val_loss": v} for v in values]


# ---- CallbackList ---------------------------------------------------------------------------
class Recorder(cbm.Callback):
    def __init__(self, name, calls):
        super().__init__()
        self.name, self.calls = name, calls

    def on_train_begin(self, logs=None):
        self.calls.append((self.name, "train_begin"))

    def on_epoch_begin(self, epoch, logs=None):
        self.calls.append((self.name, "epoch_begin", epoch))

    def on_train_batch_end(self, batch, logs=None):
        self.calls.append((self.name, "batch_end", batch, logs["loss"]))

    def on_epoch_end(self, epoch, logs=None):
        self.calls.append((self.name, "epoch_end", epoch))

    def on_train_end(self, logs=None):
        self.calls.append((self.name, "train_end"))


def test_callback_list_calls_hooks_in_order_and_sets_model_and_params():
    calls, model = [], FakeModel()
    a, b = Recorder("a", calls), Recorder("b", calls)
    history = fit(model, [a, b], [{"loss": 0.5}, {"loss": 0.25}], steps=2)
    assert calls == [
        ("a", "train_begin"), ("b", "train_begin"),
        ("a", "epoch_begin", 0), ("b", "epoch_begin", 0),
        ("a", "batch_end", 0, 0.5), ("b", "batch_end", 0, 0.5),
        ("a", "batch_end", 1, 0.5), ("b", "batch_end", 1, 0.5),
        ("a", "epoch_end", 0), ("b", "epoch_end", 0),
        ("a", "epoch_begin", 1), ("b", "epoch_begin", 1),
        ("a", "batch_end", 0, 0.25), ("b", "batch_end", 0, 0.25),
        ("a", "batch_end", 1, 0.25), ("b", "batch_end", 1, 0.25),
        ("a", "epoch_end", 1), ("b", "epoch_end", 1),
        ("a", "train_end"), ("b", "train_end")]
    assert a.model is model and b.model is model
    assert a.params == {"verbose": 0, "epochs": 2, "steps": 2}
    assert history is model.history and isinstance(history, History)


def test_callback_list_adds_history_and_progbar_once():
    user_list = [ProgbarLogger()]
    cbs = CallbackList(user_list, add_history=True, add_progbar=True, model=FakeModel(),
                       verbose=1, epochs=1, steps=1)
    assert [type(c) for c in cbs.callbacks] == [ProgbarLogger, History]
    assert len(user_list) == 1  # the user's list is not changed
    mine = History()
    cbs = CallbackList([mine], add_history=True)
    assert cbs.callbacks == [mine]
    assert CallbackList(None).callbacks == []


def test_callback_list_skips_hooks_nobody_overrides():
    cbs = CallbackList([cbm.Callback(), History()], add_history=True)
    assert cbs._calls["on_train_batch_end"] == ()
    assert cbs._calls["on_train_batch_begin"] == ()
    assert len(cbs._calls["on_epoch_end"]) == 1  # History's
    cbs.on_train_batch_begin(0)  # nothing to call, nothing fails
    cbs.on_train_batch_end(0, {"loss": 1.0})


def test_callback_list_reaches_keras2_on_batch_end_and_lambda_hooks():
    seen = []

    class Legacy(cbm.Callback):
        def on_batch_end(self, batch, logs=None):
            seen.append(("legacy", batch))

    lam = LambdaCallback(on_train_batch_end=lambda batch, logs: seen.append(("lambda", batch)),
                         on_test_end=lambda logs: seen.append(("test_end", logs["loss"])))
    cbs = CallbackList([Legacy(), lam])
    cbs.on_train_batch_end(3, {"loss": 0.0})
    cbs.on_test_end({"loss": 2.0})
    assert seen == [("legacy", 3), ("lambda", 3), ("test_end", 2.0)]


def test_callback_list_rejects_non_callbacks():
    with pytest.raises(TypeError, match="Callback instances.*int"):
        CallbackList([1])
    with pytest.raises(TypeError, match="unknown hooks.*on_epoch_ends"):
        LambdaCallback(on_epoch_ends=print)


# ---- History --------------------------------------------------------------------------------
def test_history_records_every_epoch_log():
    epochs = [{"loss": 0.9, "accuracy": 0.5, "val_loss": 1.0},
              {"loss": 0.7, "accuracy": 0.6, "val_loss": 0.8},
              {"loss": 0.6, "accuracy": 0.7, "val_loss": 0.9}]
    model = FakeModel()
    history = fit(model, [], epochs)
    assert history.history == {"loss": [0.9, 0.7, 0.6], "accuracy": [0.5, 0.6, 0.7],
                               "val_loss": [1.0, 0.8, 0.9]}
    assert history.epoch == [0, 1, 2]
    assert history.params == {"verbose": 0, "epochs": 3, "steps": 1}
    assert history.model is model


# ---- EarlyStopping --------------------------------------------------------------------------
def test_early_stopping_patience():
    model, stop = FakeModel(), EarlyStopping(patience=2)
    history = fit(model, [stop], val_losses(1.0, 0.9, 0.95, 0.92, 0.8))
    # best 0.9 at epoch 1; epochs 2 and 3 do not improve: stop after epoch 3
    assert len(history.history["loss"]) == 4
    assert stop.stopped_epoch == 3 and model.stop_training
    assert stop.best == 0.9 and stop.best_epoch == 1


def test_early_stopping_patience_zero_stops_at_first_non_improvement():
    stop = EarlyStopping(monitor="loss")
    history = fit(FakeModel(), [stop], [{"loss": 0.5}, {"loss": 0.5}, {"loss": 0.4}])
    assert len(history.history["loss"]) == 2 and stop.stopped_epoch == 1  # equal is no gain


def test_early_stopping_min_delta():
    stop = EarlyStopping(patience=1, min_delta=0.1)
    history = fit(FakeModel(), [stop], val_losses(1.0, 0.95, 0.85, 0.8))
    assert len(history.history["val_loss"]) == 2 and stop.stopped_epoch == 1  # 0.05 < 0.1


def test_early_stopping_mode_max_and_auto_for_accuracy():
    logs = [{"val_accuracy": a} for a in (0.5, 0.7, 0.6, 0.65, 0.9)]
    for mode in ("max", "auto"):
        stop = EarlyStopping(monitor="val_accuracy", patience=1, mode=mode)
        history = fit(FakeModel(), [stop], logs)
        assert len(history.history["val_accuracy"]) == 3 and stop.best == 0.7
    stop = EarlyStopping(monitor="val_accuracy", patience=1, mode="min")
    assert len(fit(FakeModel(), [stop], logs).history["val_accuracy"]) == 2


def test_early_stopping_auto_mode_from_names():
    assert EarlyStopping(monitor="val_mean_squared_error")._minimize
    assert EarlyStopping(monitor="mae")._minimize
    assert not EarlyStopping(monitor="val_acc")._minimize
    assert not EarlyStopping(monitor="precision")._minimize
    with pytest.raises(ValueError, match="'dice'.*mode='max'"):
        EarlyStopping(monitor="dice")
    with pytest.warns(UserWarning, match="mode 'bigger' is unknown"):
        assert EarlyStopping(mode="bigger").mode == "auto"


def test_early_stopping_baseline():
    # improving on the best so far but never on the baseline: the wait still grows, but an
    # improving epoch never stops training (Keras 3)
    stop = EarlyStopping(patience=2, baseline=0.5)
    assert len(fit(FakeModel(), [stop], val_losses(0.9, 0.8, 0.7, 0.6, 0.55))
               .history["val_loss"]) == 5
    stop = EarlyStopping(patience=2, baseline=0.5)
    history = fit(FakeModel(), [stop], val_losses(0.9, 0.8, 0.85, 0.84, 0.83))
    assert len(history.history["val_loss"]) == 3 and stop.stopped_epoch == 2
    stop = EarlyStopping(patience=2, baseline=0.85)  # beaten at epoch 1: wait restarts
    history = fit(FakeModel(), [stop], val_losses(0.9, 0.8, 0.85, 0.84, 0.83))
    assert len(history.history["val_loss"]) == 4


def test_early_stopping_restores_best_weights(capsys):
    model = FakeModel()
    stop = EarlyStopping(patience=1, restore_best_weights=True, verbose=1)
    fit(model, [stop], val_losses(0.9, 0.5, 0.6, 0.7))
    assert stop.stopped_epoch == 2
    assert all(np.all(w == 1) for w in model.weights)  # epoch 1's weights
    assert capsys.readouterr().out == ("Epoch 3: early stopping\nRestoring model weights "
                                       "from the end of the best epoch: 2.\n")


def test_early_stopping_restores_first_weights_when_baseline_never_beaten():
    model = FakeModel()
    stop = EarlyStopping(patience=1, baseline=0.5, restore_best_weights=True)
    fit(model, [stop], val_losses(0.9, 0.95, 0.96, 0.97))
    assert stop.stopped_epoch == 1 and all(np.all(w == 0) for w in model.weights)


def test_early_stopping_start_from_epoch():
    model = FakeModel()
    stop = EarlyStopping(patience=0, restore_best_weights=True, start_from_epoch=2)
    history = fit(model, [stop], val_losses(0.5, 0.6, 0.7, 0.8, 0.9))
    assert len(history.history["val_loss"]) == 4 and stop.stopped_epoch == 3
    assert all(np.all(w == 2) for w in model.weights)  # epochs 0 and 1 not watched


def test_early_stopping_missing_monitor_warns_with_available_keys():
    stop = EarlyStopping()
    with pytest.warns(UserWarning, match="`val_loss` which is not available.*loss,accuracy"):
        history = fit(FakeModel(), [stop], [{"loss": 1.0, "accuracy": 0.5}] * 3)
    assert len(history.history["loss"]) == 3 and stop.stopped_epoch == 0


# ---- ModelCheckpoint ------------------------------------------------------------------------
def test_checkpoint_every_epoch_formats_names(tmp_path):
    model = FakeModel()
    pattern = str(tmp_path / "ck" / "w.{epoch:02d}-{val_loss:.2f}.weights.h5")
    fit(model, [ModelCheckpoint(pattern, save_weights_only=True)], val_losses(0.5, 0.25))
    names = [tmp_path / "ck" / "w.01-0.50.weights.h5", tmp_path / "ck" / "w.02-0.25.weights.h5"]
    assert model.saved == [("weights", str(n)) for n in names]
    assert all(n.exists() for n in names)


def test_checkpoint_best_only(tmp_path, capsys):
    model = FakeModel()
    path = str(tmp_path / "m{epoch}.keras")
    ck = ModelCheckpoint(path, save_best_only=True, verbose=1)
    fit(model, [ck], val_losses(0.5, 0.6, 0.4, 0.4))
    assert model.saved == [("model", path.format(epoch=1)), ("model", path.format(epoch=3))]
    assert ck.best == 0.4
    out = capsys.readouterr().out
    assert f"Epoch 1: val_loss improved from None to 0.50000, saving model to " \
           f"{path.format(epoch=1)}" in out
    assert "Epoch 2: val_loss did not improve from 0.50000" in out
    assert "Epoch 4: val_loss did not improve from 0.40000" in out


def test_checkpoint_best_only_max_mode_and_threshold(tmp_path):
    model = FakeModel()
    path = str(tmp_path / "best.keras")
    ck = ModelCheckpoint(path, monitor="val_accuracy", save_best_only=True,
                         initial_value_threshold=0.6)
    fit(model, [ck], [{"val_accuracy": a} for a in (0.5, 0.7, 0.65, 0.8)])
    assert model.saved == [("model", path)] * 2 and ck.best == 0.8


def test_checkpoint_best_only_without_monitor_saves_and_warns(tmp_path):
    model = FakeModel()
    with pytest.warns(UserWarning, match="only with val_loss available"):
        fit(model, [ModelCheckpoint(str(tmp_path / "m.keras"), save_best_only=True)],
            [{"loss": 1.0}])
    assert len(model.saved) == 1


def test_checkpoint_integer_save_freq_counts_batches(tmp_path):
    model = FakeModel()
    path = str(tmp_path / "e{epoch}b{batch}.weights.h5")
    fit(model, [ModelCheckpoint(path, save_weights_only=True, save_freq=3)],
        [{"loss": 1.0}] * 2, steps=4)
    # batches 1..4 of epoch 1 then 1..4 of epoch 2: every third batch seen
    assert [p for _, p in model.saved] == [path.format(epoch=e, batch=b)
                                           for e, b in ((1, 3), (2, 2))]


def test_checkpoint_errors(tmp_path):
    with pytest.raises(ValueError, match="save_freq must be 'epoch' or a positive"):
        ModelCheckpoint("m.keras", save_freq="batch")
    with pytest.raises(KeyError, match="val_acc"):
        fit(FakeModel(), [ModelCheckpoint(str(tmp_path / "{val_acc}.keras"))], [{"loss": 1.0}])
    (tmp_path / "dir.keras").mkdir()
    with pytest.raises(IsADirectoryError, match="is a directory"):
        fit(FakeModel(), [ModelCheckpoint(str(tmp_path / "dir.keras"))], [{"loss": 1.0}])


# ---- learning rate --------------------------------------------------------------------------
def test_learning_rate_scheduler_sets_rate_before_each_epoch(capsys):
    model = FakeModel()
    seen = []
    spy = LambdaCallback(on_epoch_begin=lambda e, logs: seen.append(
        model.optimizer.learning_rate))
    sched = LearningRateScheduler(lambda epoch, lr: lr if epoch < 2 else lr / 2, verbose=1)
    history = fit(model, [sched, spy], [{"loss": 1.0}] * 4)
    assert seen == [0.1, 0.1, 0.05, 0.025]
    assert history.history["learning_rate"] == [0.1, 0.1, 0.05, 0.025]
    assert "Epoch 3: LearningRateScheduler setting learning rate to 0.05." in \
        capsys.readouterr().out


def test_learning_rate_scheduler_one_argument_schedule_and_bad_output():
    model = FakeModel()
    fit(model, [LearningRateScheduler(lambda epoch: 0.5 ** epoch)], [{"loss": 1.0}] * 3)
    assert model.optimizer.learning_rate == 0.25
    with pytest.raises(ValueError, match="should be a float. Got: 'fast'"):
        fit(model, [LearningRateScheduler(lambda epoch, lr: "fast")], [{"loss": 1.0}])


def test_reduce_lr_on_plateau():
    model = FakeModel()
    cb = ReduceLROnPlateau(patience=1, factor=0.5, min_lr=0.03, cooldown=2)
    rates = []
    spy = LambdaCallback(on_epoch_end=lambda e, logs: rates.append(logs["learning_rate"]))
    fit(model, [cb, spy], val_losses(1.0, 1.0, 1.0, 1.0, 0.5, 0.6, 0.6))
    # the logged rate is the one the epoch trained with; cut after epoch 1, then epoch 2 is
    # in cooldown, cut after epoch 3 (0.025 clipped at min_lr), improvement at epoch 4
    assert rates == [0.1, 0.1, 0.05, 0.05, 0.03, 0.03, 0.03]
    assert model.optimizer.learning_rate == 0.03


def test_reduce_lr_on_plateau_min_delta_and_defaults():
    model = FakeModel()
    cb = ReduceLROnPlateau(patience=2, factor=0.5, min_delta=0.1)
    fit(model, [cb], val_losses(1.0, 0.95, 0.92, 0.8, 0.75, 0.74))
    assert np.isclose(model.optimizer.learning_rate, 0.025)
    default = ReduceLROnPlateau()
    assert (default.factor, default.patience, default.min_delta, default.cooldown,
            default.min_lr) == (0.1, 10, 1e-4, 0, 0.0)
    with pytest.raises(ValueError, match="factor >= 1.0"):
        ReduceLROnPlateau(factor=1.5)


# ---- TerminateOnNaN -------------------------------------------------------------------------
def test_terminate_on_nan_stops_at_the_bad_batch(capsys):
    model = FakeModel()
    batch_logs = [[{"loss": 1.0}, {"loss": 0.9}, {"loss": float("nan")}, {"loss": 0.8}]]
    calls = []
    spy = LambdaCallback(on_train_batch_end=lambda b, logs: calls.append(b))
    history = fit(model, [TerminateOnNaN(), spy], [{"loss": 1.0}] * 3, steps=4,
                  batch_logs=batch_logs)
    assert calls == [0, 1, 2] and model.stop_training
    assert len(history.history["loss"]) == 1
    assert capsys.readouterr().out == "Batch 2: Invalid loss, terminating training\n"
    with pytest.raises(RuntimeError, match="at batch 0"):
        fit(model, [TerminateOnNaN(raise_error=True)], [{"loss": 1.0}],
            batch_logs=[[{"loss": float("inf")}]])


# ---- CSVLogger ------------------------------------------------------------------------------
def read_rows(path, sep=","):
    with open(path, newline="") as f:
        return list(csv.reader(f, delimiter=sep))


def test_csv_logger_rows(tmp_path):
    path = tmp_path / "log.csv"
    logs = [{"loss": 0.5, "accuracy": 0.25, "val_loss": 0.75, "val_accuracy": 0.5},
            {"loss": 0.25, "accuracy": 0.5, "val_loss": 0.5, "val_accuracy": 0.75}]
    fit(FakeModel(), [CSVLogger(path)], logs)
    assert read_rows(path) == [["epoch", "accuracy", "loss", "val_accuracy", "val_loss"],
                               ["0", "0.25", "0.5", "0.5", "0.75"],
                               ["1", "0.5", "0.25", "0.75", "0.5"]]


def test_csv_logger_flushes_each_epoch_and_appends_without_header(tmp_path):
    path = tmp_path / "log.csv"
    rows_at_epoch_end = []
    spy = LambdaCallback(on_epoch_end=lambda e, logs: rows_at_epoch_end.append(
        len(read_rows(path, ";"))))
    fit(FakeModel(), [CSVLogger(path, separator=";"), spy], [{"loss": 1.0}, {"loss": 0.5}])
    assert rows_at_epoch_end == [2, 3]
    fit(FakeModel(), [CSVLogger(path, separator=";", append=True)], [{"loss": 0.25}])
    # no validation in the first epoch: Keras adds the val_ columns, filled with NA
    assert read_rows(path, ";") == [["epoch", "loss", "val_loss"], ["0", "1.0", "NA"],
                                    ["1", "0.5", "NA"], ["0", "0.25", "NA"]]
    fit(FakeModel(), [CSVLogger(path)], [{"loss": 2.0}])  # append=False starts again
    assert read_rows(path) == [["epoch", "loss", "val_loss"], ["0", "2.0", "NA"]]


# ---- progress bar ---------------------------------------------------------------------------
def fake_clock(monkeypatch, step=0.5):
    times = iter(100.0 + step * i for i in range(10_000))
    monkeypatch.setattr(pbm.time, "time", lambda: next(times))


def test_progbar_verbose1_lines(capsys, monkeypatch):
    fake_clock(monkeypatch)
    bar = Progbar(250, stateless_metrics=())
    bar.update(1, [("loss", 2.0), ("accuracy", 0.5)])
    bar.update(2, [("loss", 1.0), ("accuracy", 0.6)])
    bar.update(7, [("loss", 0.5), ("accuracy", 0.0001)])
    bar.update(250, [("loss", 0.25), ("accuracy", 0.9)])
    # clock: start 100, updates at 100.5, 101, 101.5, 102; the time per step leaves out the
    # first step: at step 7, 1 s / 6 steps, ETA 243 * 1/6 s; at the end 2 s elapsed
    assert capsys.readouterr().out.splitlines() == [
        "  1/250 " + "─" * 20 + " 2:04 500ms/step - loss: 2.0000 - accuracy: 0.5000",
        "  2/250 " + "─" * 20 + " 2:04 500ms/step - loss: 1.0000 - accuracy: 0.6000",
        "  7/250 " + "─" * 20 + " 40s 167ms/step - loss: 0.5000 - accuracy: 1.0000e-04",
        "250/250 " + "━" * 20 + " 2s 6ms/step - loss: 0.2500 - accuracy: 0.9000"]


def test_progbar_averages_values_unless_stateful(capsys, monkeypatch):
    fake_clock(monkeypatch)
    bar = Progbar(10, width=10, stateful_metrics=["acc"])
    bar.update(2, [("loss", 1.0), ("acc", 0.5)])
    bar.update(4, [("loss", 0.5), ("acc", 0.25)])  # loss: (1*2 + 0.5*2) / 4
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == " 4/10 ━━━━────── 1s 250ms/step - loss: 0.7500 - acc: 0.2500"


def test_progbar_redraws_in_place_on_a_terminal(capsys, monkeypatch):
    fake_clock(monkeypatch)
    monkeypatch.setattr(pbm, "_interactive", lambda: True)
    bar = Progbar(4, width=4, stateless_metrics=())
    bar.update(1, [("loss", 10.0)])
    bar.update(4, [("loss", 1.0)])
    out = capsys.readouterr().out
    assert out.startswith("\r") and out.endswith("\n") and out.count("\n") == 1
    plain = re.sub("\x1b\\[\\d+m", "", out)
    assert plain == ("\r1/4 ━━━━ 1s 500ms/step - loss: 10.0000"
                     "\r4/4 ━━━━ 1s 167ms/step - loss: 1.0000 \n")  # padded over the old line
    assert "\x1b[32m━\x1b[0m\x1b[37m━━━\x1b[0m" in out  # 1 of 4 done: green, rest grey


def test_progbar_throttles_redraws(capsys, monkeypatch):
    fake_clock(monkeypatch, step=0.01)
    bar = Progbar(100)
    for step in range(1, 101):
        bar.update(step, [("loss", 1.0)])
    lines = capsys.readouterr().out.splitlines()
    # one clock tick (0.01 s) per update: a redraw every 5 updates at most, and the last
    assert 15 <= len(lines) <= 25 and lines[-1].startswith("100/100")


def test_progbar_verbose2_and_unknown_target(capsys, monkeypatch):
    fake_clock(monkeypatch)
    bar = Progbar(250, verbose=2, stateless_metrics=())
    bar.update(1, [("loss", 2.0)])
    bar.update(250, [("loss", 0.25)])
    assert capsys.readouterr().out == "250/250 - 1s - 2ms/step - loss: 0.2500\n"
    bar = Progbar(None, stateless_metrics=())
    bar.update(3, [("loss", 1.0)])
    bar.update(5, [("loss", 1.0)], finalize=True)
    assert capsys.readouterr().out == ("      3/Unknown 0s 167ms/step - loss: 1.0000\n"
                                       "      5/Unknown 1s 200ms/step - loss: 1.0000\n")
    with pytest.raises(ValueError, match="not both"):
        Progbar(3, stateful_metrics=["a"], stateless_metrics=["b"])


def test_progbar_logger_verbose1(capsys, monkeypatch):
    fake_clock(monkeypatch)
    logs = [{"loss": 0.5, "accuracy": 0.75}, {"loss": 0.25, "accuracy": 0.875}]
    batch_logs = [[{"loss": 0.75, "accuracy": 0.5}, logs[0]], [{"loss": 0.3}, logs[1]]]
    fit(FakeModel(), [], logs, steps=2, verbose=1, batch_logs=batch_logs)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Epoch 1/2"
    assert lines[1].startswith("1/2 ━━━━━━━━━━────────── ") and lines[1].endswith(
        "ms/step - loss: 0.7500 - accuracy: 0.5000")  # logs shown as given
    assert lines[2].startswith("2/2 ━━━━━━━━━━━━━━━━━━━━ ") and lines[2].endswith(
        " - loss: 0.5000 - accuracy: 0.7500")
    assert lines[3] == "Epoch 2/2" and lines[-1].endswith("- loss: 0.2500 - accuracy: 0.8750")
    assert len(lines) == 6


def test_progbar_logger_verbose2_and_single_epoch(capsys, monkeypatch):
    fake_clock(monkeypatch)
    logs = [{"loss": 0.5, "val_loss": 0.625}, {"loss": 0.25, "val_loss": 0.5}]
    fit(FakeModel(), [], logs, steps=4, verbose=2)
    assert re.fullmatch(r"Epoch 1/2\n4/4 - \d+s - \d+ms/step - loss: 0\.5000 - val_loss: "
                        r"0\.6250\nEpoch 2/2\n4/4 - \d+s - \d+ms/step - loss: 0\.2500 - "
                        r"val_loss: 0\.5000\n", capsys.readouterr().out)
    fit(FakeModel(), [], logs[:1], steps=4, verbose=2)
    assert not capsys.readouterr().out.startswith("Epoch")  # no header for a single epoch
    fit(FakeModel(), [], logs, steps=4, verbose=0)
    assert capsys.readouterr().out == ""


def test_progbar_logger_for_evaluate_and_predict(capsys, monkeypatch):
    fake_clock(monkeypatch)
    cbs = CallbackList(None, add_progbar=True, model=FakeModel(), verbose=2, epochs=1, steps=3)
    cbs.on_test_begin()
    for step in range(3):
        cbs.on_test_batch_begin(step)
        cbs.on_test_batch_end(step, {"loss": 1.0 / (step + 1)})
    cbs.on_test_end({"loss": 0.5})
    assert re.fullmatch(r"3/3 - \d+s - \d+ms/step - loss: 0\.5000\n", capsys.readouterr().out)
    cbs = CallbackList(None, add_progbar=True, model=FakeModel(), verbose=2, epochs=1,
                       steps=None)
    cbs.on_predict_begin()
    for step in range(5):
        cbs.on_predict_batch_end(step, {"outputs": np.zeros(2)})
    cbs.on_predict_end()
    assert re.fullmatch(r"5/5 - \d+s - \d+ms/step\n", capsys.readouterr().out)


def test_fit_validation_calls_the_callbacks_test_hooks():
    class Recorder(cbm.Callback):
        def __init__(self):
            super().__init__()
            self.events = []

        def on_test_begin(self, logs=None):
            self.events.append("test_begin")

        def on_test_batch_end(self, batch, logs=None):
            self.events.append("test_batch")

        def on_test_end(self, logs=None):
            self.events.append(("test_end", round(logs["loss"], 6)))

        def on_epoch_end(self, epoch, logs=None):
            self.events.append(("epoch_end", round(logs["val_loss"], 6)))

    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3)).astype(np.float32)
    y = x.sum(axis=1, keepdims=True)
    model = Sequential([Input(shape=(3,)), Dense(1)])
    model.compile(loss="mse", optimizer="sgd")
    recorder = Recorder()
    model.fit(x, y, batch_size=8, epochs=2, validation_data=(x[:20], y[:20]), verbose=0,
              callbacks=[recorder])
    assert recorder.params["epochs"] == 2  # not overwritten by the validation's evaluate
    for epoch in range(2):
        chunk = recorder.events[epoch * 6:(epoch + 1) * 6]  # 20 samples: 3 batches of <= 8
        assert chunk[:4] == ["test_begin", "test_batch", "test_batch", "test_batch"]
        assert chunk[4][0] == "test_end" and chunk[5] == ("epoch_end", chunk[4][1])
