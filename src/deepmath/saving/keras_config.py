"""Keras model configs (the `config.json` of a `.keras` archive, the `model_config` attribute
of a legacy `.h5`) turned into deepmath's, which mirror Keras 3's keys, and back.

Left out: what only Keras uses ('module', 'registered_name', 'build_config',
'shared_object_id'), options deepmath has not, when they hold their neutral value (None,
False, 'channels_last', dilation 1…), and regularizers and constraints that are None. Any
other option deepmath lacks, a regularizer or constraint that is set, or a layer class
deepmath has not, is an error naming the layer. Keras 2 configs (`batch_input_shape`, nodes
as [name, node, tensor, kwargs] lists) are read too.
"""
import inspect

from .. import initializers
from ..layers import Layer, get_class

_KERAS_ONLY = ("module", "registered_name", "build_config", "shared_object_id",
               "compile_config")
_ANY = object()
# Options deepmath's layers do not take, with the values for which leaving them out changes
# nothing (_ANY: meaningless once the option beside it is neutral, as renorm's momentum).
# None is neutral for every option: Keras' "not set".
_NEUTRAL = {"data_format": ("channels_last",), "dilation_rate": (1, [1, 1], (1, 1)),
            "groups": (1,), "sparse": (False,), "ragged": (False,), "optional": (False,),
            "mask_zero": (False,), "synchronized": (False,), "renorm": (False,),
            "rms_scaling": (False,), "renorm_momentum": _ANY, "renorm_clipping": _ANY}
_MODEL_CLASSES = ("Sequential", "Functional", "Model")


def _accepted(cls):
    """Keyword arguments the constructors of `cls` (and of its bases up to Layer) take."""
    names = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is not None:
            names.update(p.name for p in inspect.signature(init).parameters.values()
                         if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))
        if klass is Layer:
            break
    return names - {"self"}


def is_neutral(key, value):
    """True when leaving option `key` out gives the same computation as `value`."""
    allowed = _NEUTRAL.get(key, ())
    return value is None or allowed is _ANY or value in allowed


def _dtype(value):
    """A DTypePolicy config -> its dtype name ('float32')."""
    if isinstance(value, dict):
        return (value.get("config") or {}).get("name", "float32")
    return value


def _initializer(value, where):
    """A Keras initializer config without the options deepmath's class does not take."""
    if not isinstance(value, dict):
        return value
    try:
        cls = type(initializers.get(value["class_name"]))
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{where}: {exc}") from None
    config = {k: v for k, v in (value.get("config") or {}).items()
              if k in _accepted(cls) or not is_neutral(k, v)}
    return {"class_name": value["class_name"], "config": config}


def _activation(value):
    """Keras 3 writes a function as {'class_name': 'function', 'config': name}."""
    if isinstance(value, dict) and value.get("class_name") == "function":
        return value.get("config")
    return value


def layer_config(class_name, config, cls, where):
    """Keras' config of a layer as deepmath's `cls` takes it."""
    config = dict(config)
    if "batch_input_shape" in config:
        shape = config.pop("batch_input_shape")
        if class_name == "InputLayer":
            config["batch_shape"] = shape
        else:
            config["input_shape"] = shape[1:]
    accepted, out = _accepted(cls), {}
    for key, value in config.items():
        if key in _KERAS_ONLY:
            continue
        if key.endswith(("_regularizer", "_constraint")) and key not in accepted \
                and value is not None:
            kind = value.get("class_name") if isinstance(value, dict) else value
            raise ValueError(f"{where}: {key}={kind!r} is not supported by deepmath "
                             "(only None)")
        if key == "dtype":
            value = _dtype(value)
        elif key.endswith("_initializer"):
            value = _initializer(value, where)
        elif key.endswith("activation"):
            value = _activation(value)
        if key in accepted:
            out[key] = value
        elif not is_neutral(key, value):
            raise ValueError(f"{where}: option {key}={value!r} is not supported by deepmath's "
                             f"{cls.__name__}")
    return out


def _history(tensor):
    """[layer name, node index, tensor index] of one input of a node (Keras 3 or 2)."""
    if isinstance(tensor, dict):
        return list(tensor["config"]["keras_history"][:3])
    return list(tensor[:3])


def _flatten(args):
    for a in args:
        if isinstance(a, (list, tuple)) and a and isinstance(a[0], (list, tuple, dict)):
            yield from _flatten(a)
        elif isinstance(a, dict) and a.get("class_name") != "__keras_tensor__":
            continue
        else:
            yield a


def _node(node, where):
    """One inbound node as deepmath's [[name, node, tensor], …]."""
    if isinstance(node, dict):  # Keras 3: {'args': [...], 'kwargs': {...}}
        for key, value in (node.get("kwargs") or {}).items():
            if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
                raise ValueError(f"{where}: a tensor passed as keyword argument {key!r} is "
                                 "not supported")
        return [_history(t) for t in _flatten(node.get("args", []))]
    return [_history(t) for t in node]  # Keras 2: [[name, node, tensor, kwargs], …]


def _refs(value):
    """input_layers/output_layers: Keras writes one [name, node, tensor] bare."""
    if value and isinstance(value[0], str):
        return [list(value[:3])]
    return [list(v[:3]) for v in value]


def _layer_class(class_name, custom_objects, where):
    if class_name in custom_objects:
        return custom_objects[class_name]
    try:
        return get_class(class_name)
    except ValueError:
        raise ValueError(f"{where}: deepmath has no layer class {class_name!r} (pass your "
                         "own class in custom_objects)") from None


def _layer(entry, custom_objects, source, functional):
    class_name, config = entry["class_name"], entry.get("config") or {}
    name = entry.get("name") or config.get("name")
    where = f"{source}: layer {name!r} ({class_name})"
    if class_name in _MODEL_CLASSES:
        out = model_config(entry, custom_objects, source)
        out["class_name"] = "Model" if out["class_name"] == "Functional" else "Sequential"
    else:
        cls = _layer_class(class_name, custom_objects, where)
        out = {"class_name": class_name, "config": layer_config(class_name, config, cls, where)}
    if functional:
        out["name"] = name
        out["inbound_nodes"] = [_node(n, where) for n in entry.get("inbound_nodes", [])]
    return out


def model_config(keras_config, custom_objects, source):
    """deepmath's {'class_name': 'Sequential' or 'Functional', 'config'} from Keras'."""
    custom_objects = custom_objects or {}
    class_name, config = keras_config.get("class_name"), keras_config.get("config")
    if class_name not in _MODEL_CLASSES or config is None:
        raise ValueError(f"{source}: the model config describes a {class_name!r}; deepmath "
                         "reads Sequential and functional models")
    if isinstance(config, list):  # Keras 1/2 Sequential: the layer list itself
        config = {"layers": config}
    functional = class_name != "Sequential"
    out = {"name": config.get("name"), "trainable": config.get("trainable", True),
           "layers": [_layer(e, custom_objects, source, functional)
                      for e in config.get("layers", [])]}
    if functional:
        out["input_layers"] = _refs(config["input_layers"])
        out["output_layers"] = _refs(config["output_layers"])
    return {"class_name": "Sequential" if not functional else "Functional", "config": out}


# ---- deepmath -> Keras -----------------------------------------------------------------------
_KERAS_MODULES = {"Sequential": ("keras", None),
                  "Functional": ("keras.src.models.functional", "Functional")}


def _tagged(entry, module, registered_name=None):
    """A {'class_name', 'config'} entry with the 'module' Keras' deserializer looks for."""
    return {"module": module, **entry, "registered_name": registered_name}


def to_keras(model_config):
    """Keras 3's form of deepmath's {'class_name', 'config'} of a model: the same keys, with
    the 'module' of each model, layer and initializer (Keras 3's load_model reads it)."""
    class_name = "Functional" if model_config["class_name"] == "Model" else \
        model_config["class_name"]
    module, registered = _KERAS_MODULES.get(class_name, ("keras.layers", None))
    config = dict(model_config["config"])
    for key, value in config.items():
        if key.endswith("_initializer") and isinstance(value, dict):
            config[key] = _tagged(value, "keras.initializers")
    if "layers" in config and class_name in _KERAS_MODULES:
        config["layers"] = [{**entry, **to_keras(entry)} for entry in config["layers"]]
    return _tagged({"class_name": class_name, "config": config}, module, registered)


def to_keras_compile(compile_config):
    """deepmath's compile settings with the optimizer's 'module' for Keras."""
    if not compile_config or not isinstance(compile_config.get("optimizer"), dict):
        return compile_config
    optimizer = {"module": "keras.optimizers", "registered_name": None,
                 **compile_config["optimizer"]}
    return {**compile_config, "optimizer": optimizer}
