"""File plumbing shared by the formats: atomic writes, checks on the file read, what kind of
file it is (by its first bytes, whatever its name), and the optional h5py."""
import contextlib
import errno
import os
import tempfile
import zipfile

_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary name in the folder of `path`; once the block ends without error the
    file replaces `path` in one step (os.replace), otherwise it is removed: a crash or an
    exception mid-save never leaves a half-written `path` nor destroys the previous one."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(path) + ".",
                               suffix=".tmp")
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp made it 0600; a saved file is as open()'s
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def require_file(path):
    """`path` as a str; FileNotFoundError naming it when there is no such file."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), path)
    return path


def kind_of(path):
    """'hdf5', 'zip' or None (neither), from the file's signature."""
    with open(path, "rb") as f:
        head = f.read(len(_HDF5_SIGNATURE))
    if head == _HDF5_SIGNATURE:
        return "hdf5"
    return "zip" if zipfile.is_zipfile(path) else None


def zip_members(path):
    """Names inside a zip archive (none when its directory is damaged)."""
    try:
        with zipfile.ZipFile(path) as archive:
            return set(archive.namelist())
    except zipfile.BadZipFile:
        return set()


def h5py():
    """The h5py module; ImportError saying how to install it when it is missing."""
    try:
        import h5py as module
    except ImportError:
        raise ImportError("Keras files (.weights.h5, .h5, .keras) need h5py: pip install h5py "
                          "(or pip install deepmath[keras-io]); deepmath's own format "
                          "(.npz, .deepmath) needs only numpy") from None
    return module


def open_h5(path_or_file, source, mode="r"):
    """An open h5py.File; ValueError naming `source` when it is not HDF5."""
    h5 = h5py()
    try:
        return h5.File(path_or_file, mode)
    except OSError as exc:
        raise ValueError(f"{source}: not a readable HDF5 file ({exc})") from None
