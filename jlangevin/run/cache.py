"""The compile cache: one compiled loop per program, kept no longer than its functions.

A compiled loop is reused when the next call would trace the same program.
What determines the program, and so the cache key:

- the sampler's functions, **by identity** (the same function object, not
  equal code): ``init``, ``step`` and a callable ``store``. A built-in sampler
  (``jl.mala(logdensity_fn, step_size=...)``) is a ``functools.partial`` of a
  kernel's functions; it is taken apart (:func:`split_sampler`): its array
  arguments (a step size or a metric found by warm-up) become arguments of the
  compiled loop, and the rest (the kernel's functions, ``logdensity_fn``, other
  settings) is the key. A new sampler of the same ``logdensity_fn`` and a new
  step size therefore reuses the loop; a lambda or closure made anew for every
  call does not (build it once, outside the loop that calls ``jl.run``). An
  argument that is itself a ``functools.partial`` is taken apart the same way:
  ``logdensity_fn=functools.partial(logp, data=x)`` passes ``x`` to the loop as an
  argument, so a new dataset of the same shapes reuses it (a closure over ``x``
  compiles ``x`` into the program instead);
- the settings that shape the program: ``thin``, ``store``, the mesh, and, per
  call of the loop, the shapes and dtypes of its arguments and the static
  ``init``/``burn``/``draws`` (kept by :func:`jax.jit`).

Functions are held by **weak reference**: a cached loop keeps alive neither the
user's log density nor the data it closes over (a compiled program holds such
data as constants). When any function of a key is collected, its entries go,
and with them the compiled programs and their constants. Objects that cannot be
weakly referenced (rare) are held as they are. The cache holds at most
:data:`MAX_PROGRAMS` loops, least recently used first out.

Examples
--------
>>> import jax.numpy as jnp
>>> import jlangevin as jl
>>> from jlangevin.run.cache import split_sampler
>>> a, _ = split_sampler(jl.mala(jnp.sin, step_size=jnp.asarray(0.1)))
>>> b, _ = split_sampler(jl.mala(jnp.sin, step_size=jnp.asarray(0.2)))
>>> a == b  # only the arrays differ: one compiled loop serves both
True
"""

from __future__ import annotations

import functools
import threading
import types
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import jax
import numpy as np

from jlangevin.types import Sampler

#: Compiled loops kept at most (least recently used evicted first).
MAX_PROGRAMS = 64


class Weak:
    """A weak reference that hashes and compares by its referent's identity.

    Equal to another :class:`Weak` while both point at the same live object; a
    dead one equals nothing. A bound method is held by its object and function
    (:class:`weakref.WeakMethod`): ``obj.method`` read twice gives two method
    objects but one handle. Calling it gives the object (``None`` once dead).

    Examples
    --------
    >>> from jlangevin.run.cache import Weak
    >>> def f(x):
    ...     return x
    >>> Weak(f) == Weak(f), Weak(f)() is f
    (True, True)
    """

    __slots__ = ("_hash", "_ids", "_ref")

    def __init__(self, obj: Any) -> None:
        if isinstance(obj, types.MethodType):
            self._ref = weakref.WeakMethod(obj, _collected)
            self._ids = (id(obj.__self__), id(obj.__func__))
        else:
            self._ref = weakref.ref(obj, _collected)
            self._ids = (id(obj),)
        self._hash = hash(self._ids)

    def __call__(self) -> Any:
        return self._ref()

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Weak) or self._ids != other._ids:
            return False
        mine, theirs = self._ref(), other._ref()
        if mine is None or theirs is None:
            return False
        if isinstance(mine, types.MethodType):
            return mine.__self__ is theirs.__self__ and mine.__func__ is theirs.__func__
        return mine is theirs

    def __repr__(self) -> str:
        return f"Weak({self._ref()!r})"


def held(obj: Any) -> Any:
    """What a key holds for ``obj``: a :class:`Weak` for a function (any callable but a
    class) that allows one, else ``obj`` itself (numbers, strings, settings), by value."""
    if not callable(obj) or isinstance(obj, type):
        return obj
    try:
        return Weak(obj)
    except TypeError:  # not weakly referenceable (some builtins): held as it is
        return obj


def unheld(obj: Any) -> Any:
    """The object a key holds (see :func:`held`)."""
    if not isinstance(obj, Weak):
        return obj
    target = obj()
    if target is None:  # entries die with their functions: only a stale handle gets here
        raise RuntimeError("jl.run: a cached program outlived the function it was made from.")
    return target


def _is_array(x: Any) -> bool:
    return isinstance(x, jax.Array | np.ndarray)


class Bound(NamedTuple):
    """A ``functools.partial`` with its array arguments taken out (hashable, comparable).

    Two partials of the same function whose arguments differ only in array
    values give equal ``Bound``\\ s, so they share one compiled loop: the arrays
    travel as arguments of the compiled chunk instead of being baked into it.

    Attributes
    ----------
    func : the partial's function (held, see :func:`held`).
    treedef : the tree structure of ``(args, keywords)``.
    statics : the non-array leaves (held); ``None`` where an array was.
    is_array : per leaf, whether it was an array.
    """

    func: Any
    treedef: Any
    statics: tuple
    is_array: tuple[bool, ...]

    def bind(self, arrays: tuple) -> Callable:
        """The partial again, with ``arrays`` (concrete or traced) where the arrays were."""
        return self._bind(iter(arrays))

    def _bind(self, supply: Iterator) -> Callable:
        leaves = [
            next(supply) if a else s._bind(supply) if isinstance(s, Bound) else unheld(s)
            for s, a in zip(self.statics, self.is_array, strict=True)
        ]
        args, keywords = jax.tree.unflatten(self.treedef, leaves)
        return functools.partial(unheld(self.func), *args, **keywords)


def _split_fn(fn: Callable) -> tuple[Any, tuple]:
    """``(hashable template, array arguments)`` of one of a sampler's functions; a
    ``functools.partial`` among its arguments is taken apart too (its arrays follow)."""
    if type(fn) is not functools.partial:
        return held(fn), ()
    leaves, treedef = jax.tree.flatten((fn.args, fn.keywords))
    statics, is_array, arrays = [], [], []
    for leaf in leaves:
        if _is_array(leaf):
            statics.append(None)
            arrays.append(leaf)
        elif type(leaf) is functools.partial:
            inner, inner_arrays = _split_fn(leaf)
            statics.append(inner)
            arrays.extend(inner_arrays)
        else:
            statics.append(held(leaf))
        is_array.append(_is_array(leaf))
    return Bound(held(fn.func), treedef, tuple(statics), tuple(is_array)), tuple(arrays)


def split_function(fn: Callable | None) -> tuple[Any, tuple]:
    """``(hashable template, array arguments)`` of a function (a target, a score):
    a ``functools.partial``'s arrays (nested partials' too) come out, anything
    else is the template itself, held weakly. :func:`bind_function` undoes it.

    Examples
    --------
    >>> import functools
    >>> import numpy as np
    >>> from jlangevin.run.cache import bind_function, split_function
    >>> def logp(x, data):
    ...     return -((x - data.mean()) ** 2)
    >>> a, arrays = split_function(functools.partial(logp, data=np.ones(3)))
    >>> b, _ = split_function(functools.partial(logp, data=np.zeros(3)))
    >>> a == b, float(bind_function(a, arrays)(1.0))
    (True, -0.0)
    """
    return _split_fn(fn) if fn is not None else (None, ())


def bind_function(template: Any, arrays: tuple) -> Callable | None:
    """The function of a :func:`split_function` template, ``arrays`` (concrete or traced) put
    back."""
    return template.bind(arrays) if isinstance(template, Bound) else unheld(template)


class Template(NamedTuple):
    """A sampler less its array parameters: what a compiled loop is cached on.

    Attributes
    ----------
    kind : the sampler's type (``jl.Sampler`` or a NamedTuple like it).
    parts : per field of the sampler, a :class:`Bound` or the function (held).
    """

    kind: type
    parts: tuple

    def bind(self, params: tuple) -> Any:
        """The sampler again, with ``params`` (concrete or traced) as its arrays."""
        fields = [
            part.bind(arrays) if isinstance(part, Bound) else unheld(part)
            for part, arrays in zip(self.parts, params, strict=True)
        ]
        return self.kind(*fields)


def split_sampler(sampler: Sampler) -> tuple[Template, tuple]:
    """The sampler's :class:`Template` and its array parameters.

    The built-in samplers (and warm-up's) are partials of the kernels' ``init``
    and ``step``; a new step size or metric then reuses the compiled loop.
    Other callables are kept as they are (by identity, weakly).

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> import jlangevin as jl
    >>> from jlangevin.run.cache import split_sampler
    >>> template, params = split_sampler(jl.ula(jnp.sin, step_size=jnp.asarray(0.1)))
    >>> template.bind(params).step is not None
    True
    """
    parts, params = zip(*(_split_fn(fn) for fn in sampler), strict=True)
    return Template(type(sampler), tuple(parts)), tuple(params)


def _weak_items(key: Any) -> Iterator[Weak]:
    """The :class:`Weak` handles anywhere in a key of tuples."""
    if isinstance(key, Weak):
        yield key
    elif isinstance(key, tuple):
        for item in key:
            yield from _weak_items(item)


class CacheInfo(NamedTuple):
    """What :meth:`ProgramCache.cache_info` reports (as :func:`functools.lru_cache` does)."""

    hits: int
    misses: int
    maxsize: int
    currsize: int


class ProgramCache:
    """``build(*key)`` memoized on a key that may hold :class:`Weak` handles.

    An entry goes when any object its key holds weakly is collected (or when
    it is the least recently used of more than ``maxsize``). An unhashable key
    is built afresh every call.

    Examples
    --------
    >>> from jlangevin.run.cache import ProgramCache, held, unheld
    >>> square = ProgramCache(lambda f, x: unheld(f)(x) ** 2, maxsize=4)
    >>> def f(x):
    ...     return x + 1
    >>> square(held(f), 2), square.cache_info().currsize
    (9, 1)
    >>> del f
    >>> square.cache_info().currsize
    0
    """

    def __init__(self, build: Callable, maxsize: int) -> None:
        self._build = build
        self._maxsize = maxsize
        self._entries: OrderedDict = OrderedDict()
        self._lock = threading.Lock()
        self._hits = self._misses = 0
        self._dirty = False  # a weakly held object died: purge before the next lookup
        _CACHES.add(self)
        functools.update_wrapper(self, build)

    def __call__(self, *key: Any) -> Any:
        return self.get(key, lambda: self._build(*key))

    def get(self, key: tuple, make: Callable[[], Any]) -> Any:
        """The entry of ``key``, made by ``make()`` when there is none."""
        try:
            hash(key)
        except TypeError:  # an unhashable setting: made afresh
            return make()
        with self._lock:
            if self._dirty:
                self._purge()
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
                self._hits += 1
                return entry
        value = make()
        with self._lock:
            self._misses += 1
            self._entries[key] = value
            while len(self._entries) > self._maxsize:
                self._entries.popitem(last=False)
        return value

    def _purge(self) -> None:
        """Drop the entries whose weakly held objects are gone (the caller holds the lock)."""
        self._dirty = False
        dead = [k for k in self._entries if any(w() is None for w in _weak_items(k))]
        for k in dead:
            del self._entries[k]

    def purge(self) -> None:
        """Drop dead entries now, unless another call holds the cache (it purges then)."""
        if self._lock.acquire(blocking=False):
            try:
                self._purge()
            finally:
                self._lock.release()

    def cache_info(self) -> CacheInfo:
        """Hits, misses, the bound and the live entries."""
        with self._lock:
            self._purge()
            return CacheInfo(self._hits, self._misses, self._maxsize, len(self._entries))

    def cache_clear(self) -> None:
        """Forget every entry."""
        with self._lock:
            self._entries.clear()
            self._hits = self._misses = 0


_CACHES: weakref.WeakSet = weakref.WeakSet()


def _collected(_: weakref.ref) -> None:
    """A weakly held function died: drop the entries that held it, and their programs."""
    for cache in list(_CACHES):
        cache._dirty = True
        cache.purge()


def clear_all() -> None:
    """Empty every compile cache of the driver (tests that patch a kernel's internals)."""
    for cache in list(_CACHES):
        cache.cache_clear()


__all__ = [
    "MAX_PROGRAMS",
    "Bound",
    "CacheInfo",
    "ProgramCache",
    "Template",
    "Weak",
    "bind_function",
    "clear_all",
    "held",
    "split_function",
    "split_sampler",
    "unheld",
]
