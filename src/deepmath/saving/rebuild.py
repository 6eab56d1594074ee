"""From a model to its description and back: the model's config with its class, and its
compile settings (optimizer, loss, metrics, each as its module serializes it). Your own
functions and classes (the book's `heaviside` activation, a custom loss…) are saved by name
and found again through `custom_objects={'heaviside': heaviside}`."""
import json

_MODEL_CLASSES = ("Sequential", "Functional", "Model")
# Config keys whose string value may name a custom object.
_CUSTOM_KEYS = ("activation", "recurrent_activation")


def model_config(model):
    """{'class_name', 'config'}: Keras' name 'Functional' for a plain functional Model."""
    from ..models import Model
    if not isinstance(model, Model):
        raise TypeError(f"save_model expects a Model or a Sequential, got "
                        f"{type(model).__name__}")
    name = "Functional" if type(model) is Model else type(model).__name__
    return {"class_name": name, "config": model.get_config()}


def _with_custom_objects(config, custom_objects):
    """A copy of a model config whose layers' activations named in `custom_objects` are the
    objects themselves (nested models included)."""
    layers = []
    for entry in config.get("layers", []):
        entry = dict(entry)
        inner = dict(entry["config"])
        if entry["class_name"] in _MODEL_CLASSES or "layers" in inner:
            inner = _with_custom_objects(inner, custom_objects)
        for key in _CUSTOM_KEYS:
            value = inner.get(key)
            if isinstance(value, str) and value in custom_objects:
                inner[key] = custom_objects[value]
        entry["config"] = inner
        layers.append(entry)
    return {**config, "layers": layers}


def model_class(class_name, custom_objects, source):
    from ..models import Model, Sequential
    if class_name in custom_objects:
        return custom_objects[class_name]
    if class_name == "Sequential":
        return Sequential
    if class_name in ("Functional", "Model"):
        return Model
    raise ValueError(f"{source}: unknown model class {class_name!r} (expected Sequential or "
                     "Functional; pass your own class in custom_objects)")


def model_from_config(config, custom_objects, source):
    """A new model from {'class_name', 'config'}; errors say which file and what failed."""
    custom_objects = dict(custom_objects or {})
    cls = model_class(config.get("class_name"), custom_objects, source)
    try:
        return cls.from_config(_with_custom_objects(config["config"], custom_objects))
    except (ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"{source}: cannot rebuild the model: {exc} (your own functions and "
                         "classes go in custom_objects={'name': object})") from exc


# ---- compile settings ------------------------------------------------------------------------
def _serialize(module, obj, what):
    """module.serialize(obj) when JSON can hold it, else the object's name (a function of
    yours, found again through custom_objects)."""
    try:
        value = module.serialize(obj)
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        name = getattr(obj, "__name__", None) or getattr(obj, "name", None)
        if not isinstance(name, str):
            raise ValueError(f"cannot save the model's {what} {obj!r}: it has no config nor "
                             "name") from None
        return name


def compile_config(model):
    """{'optimizer', 'loss', 'metrics'} of a compiled model, None otherwise."""
    if not getattr(model, "compiled", False) or getattr(model, "optimizer", None) is None:
        return None
    from .. import losses, metrics, optimizers
    loss = getattr(model, "loss", None)
    return {"optimizer": _serialize(optimizers, model.optimizer, "optimizer"),
            "loss": None if loss is None else _serialize(losses, loss, "loss"),
            "metrics": [_serialize(metrics, m, "metric")
                        for m in getattr(model, "compiled_metrics_names", [])]}


def _resolve(value, custom_objects):
    """A saved name or {'class_name', 'config'} back to one of custom_objects, or unchanged
    (the module's `get` then reads it)."""
    if isinstance(value, str) and value in custom_objects:
        return custom_objects[value]
    if isinstance(value, dict) and value.get("class_name") in custom_objects:
        cls = custom_objects[value["class_name"]]
        config = value.get("config") or {}
        return cls.from_config(config) if hasattr(cls, "from_config") else cls(**config)
    return value


def compile_from_config(model, config, custom_objects, source):
    """model.compile(...) with the saved optimizer, loss and metrics."""
    custom_objects = dict(custom_objects or {})
    try:
        model.compile(optimizer=_resolve(config["optimizer"], custom_objects),
                      loss=_resolve(config.get("loss"), custom_objects),
                      metrics=[_resolve(m, custom_objects) for m in config.get("metrics") or []])
    except (ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"{source}: cannot compile the model as saved: {exc} (load it with "
                         "compile=False, or pass your own losses/metrics in custom_objects)"
                         ) from exc
