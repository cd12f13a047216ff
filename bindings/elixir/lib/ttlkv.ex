defmodule TTLKV do
  @moduledoc """
  A persistent key-value cache with a time-to-live on every key: the Elixir face of the ttlkv
  C library (Rust over LMDB).

  A store is one directory. Keys and values are binaries: the same bytes a C or Python program
  sees in the same store. Every key lives in a *namespace* (a binary of 1 to 255 bytes); keys of
  different namespaces never collide. TTLs are in **milliseconds**, as in Pow; `:infinity`
  means the entry never expires. An expired entry is never returned, whether or not the
  library's expiry thread has removed it yet.

      iex> dir = Path.join(System.tmp_dir!(), "ttlkv-doc-#{System.os_time()}")
      iex> {:ok, store} = TTLKV.open(dir)
      iex> TTLKV.put(store, "sessions", "abc", "user 1", 60_000)
      :ok
      iex> TTLKV.get(store, "sessions", "abc")
      {:ok, "user 1"}
      iex> TTLKV.get(store, "other", "abc")
      :not_found
      iex> TTLKV.close(store)
      :ok
      iex> TTLKV.get(store, "sessions", "abc")
      {:error, :closed}

  ## Errors

  Runtime failures are `{:error, reason}` where `reason` is `:closed` for a closed store, or
  `{status, detail}`: `status` is the C status as an atom (`:key_too_long`, `:ttl_invalid`,
  `:namespace_invalid`, `:value_too_large`, `:batch_too_large`, `:path_invalid`, `:io`,
  `:full`, `:permission`, `:no_space`, `:incompatible`, `:corrupted`, `:readers_full`,
  `:storage`, `:invalid_argument`, `:not_a_counter`, `:overflow`, `:panic`) and `detail` the
  library's text for this failure. Arguments of the wrong type (a key that is not a binary or
  iolist, a negative TTL, a map for a store, an unknown option) raise `ArgumentError`, before
  anything is written.

  *Not found* and *conflict* are ordinary results, not failures: a read of a missing key gives
  `:not_found` (`get/3`, `take/3`, `get_versioned/3`, `incr/5` without `:create`), the
  conditional writes that report whether they wrote give `{:ok, false}` (`touch/4`, `add/5`),
  and the compare-and-set `put_if_version/6` gives `{:error, :conflict}`.

  ## Schedulers

  Every call that opens an LMDB transaction runs on a dirty I/O scheduler, so a put waiting
  on fsync never holds up a normal scheduler, with one measured exception: `get/3` of a value
  up to 4 KiB runs on the caller's scheduler (p99 in microseconds, cold page cache included;
  the README has the numbers), and moves to a dirty I/O scheduler for larger values.
  `max_key_len/2` opens no transaction (it is arithmetic on the namespace's length) and runs
  on the caller's scheduler too, as does `corruption_reset/1` (a path the open recorded);
  `stats/1` and `verify/1` run on dirty I/O schedulers.

  The cache operations (`touch/4` to `backup/3`) all run on dirty I/O schedulers: each one
  writes (`touch`, `add`, `incr`, `take`, `put_if_version`, `delete_many`, `clear`,
  `set_max_bytes`, `backup`), reads a whole namespace or store (`count`, `namespaces`,
  `scan`), or copies values of any size inside the library call (`get_versioned`,
  `get_many`: the C ABI has no `get_into` form of them that would bound the copy, which is
  what lets `get/3` stay on a normal scheduler). `max_bytes/1` is one small read, but a rare
  one: it keeps the rule rather than becoming a second unmeasured exception.
  """

  require Logger

  @enforce_keys [:ref, :path]
  defstruct [:ref, :path]

  @typedoc "An open store: the NIF resource and the path it was opened with."
  @type t :: %__MODULE__{ref: reference(), path: String.t()}

  @typedoc "1 to 255 bytes."
  @type namespace :: iodata()
  @type key :: iodata()
  @type value :: iodata()

  @typedoc "Milliseconds (> 0), or `:infinity` for never."
  @type ttl :: pos_integer() | :infinity

  @type status ::
          :invalid_argument
          | :not_a_counter
          | :overflow
          | :namespace_invalid
          | :key_too_long
          | :value_too_large
          | :ttl_invalid
          | :batch_too_large
          | :path_invalid
          | :io
          | :full
          | :corrupted
          | :incompatible
          | :no_space
          | :permission
          | :readers_full
          | :storage
          | :panic
          | {:unknown_status, non_neg_integer()}

  @type reason :: :closed | {status(), String.t()}

  @typedoc """
  What a write that would pass the store's size bound does: evict entries, soonest deadline
  first (`:soonest_deadline`, the default), or fail with `:full` (`:none`).
  """
  @type eviction :: :soonest_deadline | :none

  @typedoc "An entry's version (`get_versioned/3`): positive, never repeated for a key."
  @type version :: pos_integer()

  @type open_option ::
          {:durability, :sync | :periodic}
          | {:sync_interval, pos_integer()}
          | {:map_size, pos_integer()}
          | {:max_map_size, pos_integer()}
          | {:max_readers, pos_integer()}
          | {:write_map, boolean()}
          | {:allow_shared_dir, boolean()}
          | {:crash_safe, boolean()}
          | {:on_corruption, :error | :reset}
          | {:clock_offset_ms, integer()}

  @read_scheduler Application.compile_env(:ttlkv, :read_scheduler, :normal)
  unless @read_scheduler in [:normal, :dirty] do
    raise ArgumentError, "config :ttlkv, read_scheduler: must be :normal or :dirty"
  end

  @open_options [
    :durability,
    :sync_interval,
    :map_size,
    :max_map_size,
    :max_readers,
    :write_map,
    :allow_shared_dir,
    :crash_safe,
    :on_corruption,
    :clock_offset_ms
  ]

  @doc "The names of the options `open/2` takes."
  @spec open_options() :: [atom()]
  def open_options, do: @open_options

  @doc """
  Opens (creating if needed) the store in directory `path`.

  Options:
    * `:durability` - `:sync` (default: a put is on disk when it returns; concurrent writers
      share one commit) or `:periodic` (commits skip fsync; a background flush runs every
      `:sync_interval`; a crash of the process loses nothing, a power loss the last interval).
    * `:sync_interval` - milliseconds between flushes in `:periodic` mode (default 1000).
    * `:map_size` - the initial LMDB map size in bytes; it grows on demand.
    * `:max_map_size` - the size the map may grow to; beyond it, puts fail with `:full`.
    * `:max_readers` - LMDB's reader slots.
    * `:write_map` - `:periodic` only: write through a writable memory map (default `false`).
      Puts get several times faster and the map's size is reserved on disk, but a power loss
      or OS crash between flushes can leave the store corrupted instead of only missing the
      last interval; a crash of the process is safe either way.
    * `:crash_safe` - `:periodic` only: keep the last flush reachable across a power loss or
      OS crash (default `false`). Each flush pins its snapshot and keeps its meta page in the
      flush mark; opening after an unclean shutdown of the machine returns the store to
      exactly that flush and verifies it (`stats/1`'s `:rolled_back_at_open`). The price:
      commits cannot reuse pages freed since the last flush, so sustained writes grow the file
      and are bounded by the disk's write speed (README, Durability). It holds while every
      process writing the store opens it so.
    * `:allow_shared_dir` - accept an existing directory that other users could tamper with:
      one owned by another user, or writable by its group or by others (default `false`). By
      default such a directory is refused with `{:error, {:permission, detail}}` (the detail
      names `allow_shared_dir`), because those users could swap `lock.mdb` or `data.mdb` for
      a link to one of your files. Set it only for a directory shared on purpose by users who
      trust each other. Either way, a `data.mdb` or `lock.mdb` that is a symbolic link, has
      more than one hard link or is not a regular file is refused with
      `{:error, {:path_invalid, detail}}` and left untouched.
    * `:on_corruption` - what to do with a store found damaged, by an ordinary open or by the
      full check open runs after the machine crashed with commits not yet flushed (see the
      README, "After a crash of the machine"; `stats/1`'s `:verified_at_open` is 1 then):
      `:error` (the default) fails with `{:error, {:corrupted, detail}}`, the detail naming
      the path, and touches nothing; `:reset` renames the damaged directory aside to
      `<path>.corrupted-<unix ms>` and opens a fresh, empty store at `path`. The cached data
      is lost, the application starts: a warning is logged (`Logger`) naming both paths,
      `corruption_reset/1` gives the old one, and `stats/1`'s `:corruption_resets` is 1. The
      directory set aside is never removed by the library: delete it once looked at. For a
      cache whose entries can be rebuilt (sessions: users log in again), `:reset` is the
      recommended setting; `TTLKV.PowCache` uses it by default.
    * `:clock_offset_ms` - a test hook: the store's clock is the system's shifted by this
      many milliseconds (a machine whose clock is off), for tests of clock skew between
      replicating nodes. Default 0.

  A directory `open/2` creates gets mode 0700 (never group- or world-writable, whatever the
  umask); one that already exists keeps its mode, so create it 0700 yourself (a umask of 002
  makes `File.mkdir_p/1` give 0775, which is refused) or let `open/2` create it.

  Opening the same directory twice in one VM shares one LMDB environment; other OS processes
  may open it at the same time.

      iex> dir = Path.join(System.tmp_dir!(), "ttlkv-doc-#{System.os_time()}")
      iex> {:ok, store} = TTLKV.open(dir, durability: :periodic, sync_interval: 500)
      iex> TTLKV.close(store)
      :ok
  """
  @spec open(Path.t(), [open_option()]) :: {:ok, t()} | {:error, reason()}
  def open(path, opts \\ []) do
    path = IO.chardata_to_string(path)

    unless Keyword.keyword?(opts) do
      raise ArgumentError, "TTLKV.open/2 expects a keyword list of options, got: #{inspect(opts)}"
    end

    case Keyword.keys(opts) -- @open_options do
      [] -> :ok
      unknown -> raise ArgumentError, "unknown TTLKV.open/2 options: #{inspect(unknown)}"
    end

    durability =
      case Keyword.get(opts, :durability) do
        nil ->
          nil

        :sync ->
          0

        :periodic ->
          1

        other ->
          raise ArgumentError, "durability must be :sync or :periodic, got: #{inspect(other)}"
      end

    on_corruption =
      case Keyword.fetch(opts, :on_corruption) do
        :error ->
          nil

        {:ok, mode} when mode in [:error, :reset] ->
          mode

        {:ok, other} ->
          raise ArgumentError, "on_corruption must be :error or :reset, got: #{inspect(other)}"
      end

    nif_opts = {
      durability,
      positive(opts, :sync_interval),
      positive(opts, :map_size),
      positive(opts, :max_map_size),
      positive(opts, :max_readers),
      flag(opts, :write_map),
      flag(opts, :allow_shared_dir),
      flag(opts, :crash_safe),
      on_corruption,
      clock_offset(opts)
    }

    case TTLKV.NIF.open(path, nif_opts) do
      {:ok, ref} ->
        store = %__MODULE__{ref: ref, path: path}
        if on_corruption == :reset, do: warn_if_reset(store)
        {:ok, store}

      {:error, _} = error ->
        error
    end
  end

  # Only an open with on_corruption: :reset can have replaced a damaged store. The library
  # keeps the reset per environment, so a later open of the same directory in this VM (while
  # the first handle is open) reports it too: warn once per reset (each aside path is new).
  defp warn_if_reset(store) do
    with {:ok, aside} <- corruption_reset(store),
         false <- :persistent_term.get({__MODULE__, :reset_logged, aside}, false) do
      :persistent_term.put({__MODULE__, :reset_logged, aside}, true)

      Logger.warning(
        "TTLKV: the store at #{store.path} was damaged (on_corruption: :reset); it was " <>
          "moved aside to #{aside} and a new, empty store opened at #{store.path}. " <>
          "Its cached data is gone; remove #{aside} once looked at."
      )
    else
      _not_reset_or_logged -> :ok
    end
  end

  @doc """
  Where the damaged store went when the open of `store` reset it (`on_corruption: :reset`):
  `{:ok, path}` of the directory it was moved to (`<dir>.corrupted-<unix ms>`), or `:not_found`
  when no reset happened. `open/2` logs a warning naming it when that happens.

  The library keeps this (like `stats/1`) per environment: another handle on the same
  directory in this VM, opened while the reset one was open, reports the same reset (`open/2`
  warns once per reset, not once per handle).
  """
  @spec corruption_reset(t()) :: {:ok, String.t()} | :not_found | {:error, reason()}
  def corruption_reset(store), do: TTLKV.NIF.corruption_reset(ref!(store))

  # A boolean option: nil (the library's default, off) or 1.
  defp flag(opts, name) do
    case Keyword.get(opts, name, false) do
      false -> nil
      true -> 1
      other -> raise ArgumentError, "#{name} must be a boolean, got: #{inspect(other)}"
    end
  end

  defp positive(opts, name) do
    case Keyword.get(opts, name) do
      nil -> nil
      n when is_integer(n) and n > 0 -> n
      other -> raise ArgumentError, "#{name} must be a positive integer, got: #{inspect(other)}"
    end
  end

  @doc """
  Closes the store. Idempotent; afterwards every call on it returns `{:error, :closed}`.
  The handle itself is released when the last reference to it is garbage collected.
  """
  @spec close(t()) :: :ok | {:error, reason()}
  def close(store), do: TTLKV.NIF.close(ref!(store))

  @doc """
  Inserts or overwrites `key` in `namespace` with a lifetime of `ttl_ms` milliseconds from
  now (`:infinity`: never expires). Overwriting restarts the lifetime with the new TTL.

      iex> dir = Path.join(System.tmp_dir!(), "ttlkv-doc-#{System.os_time()}")
      iex> {:ok, store} = TTLKV.open(dir)
      iex> TTLKV.put(store, "cache", "k", "v", :infinity)
      :ok
      iex> {:error, {:ttl_invalid, _detail}} = TTLKV.put(store, "cache", "k", "v", 0)
      iex> TTLKV.get(store, "cache", "k")
      {:ok, "v"}
  """
  @spec put(t(), namespace(), key(), value(), ttl()) :: :ok | {:error, reason()}
  def put(store, namespace, key, value, ttl_ms),
    do: TTLKV.NIF.put(ref!(store), namespace, key, value, ttl_ms)

  @doc """
  Writes every `{key, value}` in one atomic transaction, all with the same TTL. Either every
  record is written or none is. A batch larger than the library's limit is refused with
  `{:error, {:batch_too_large, detail}}`, never split.

      iex> dir = Path.join(System.tmp_dir!(), "ttlkv-doc-#{System.os_time()}")
      iex> {:ok, store} = TTLKV.open(dir)
      iex> TTLKV.put_many(store, "cache", [{"a", "1"}, {"b", "2"}], 60_000)
      :ok
      iex> TTLKV.keys(store, "cache")
      {:ok, ["a", "b"]}
  """
  @spec put_many(t(), namespace(), [{key(), value()}], ttl()) :: :ok | {:error, reason()}
  def put_many(store, namespace, records, ttl_ms) when is_list(records),
    do: TTLKV.NIF.put_many(ref!(store), namespace, records, ttl_ms)

  def put_many(_store, _namespace, records, _ttl_ms),
    do: raise(ArgumentError, "records must be a list of {key, value}, got: #{inspect(records)}")

  @doc """
  The value of a live `key`, or `:not_found` (never set, deleted, or past its deadline).

  A value up to 4 KiB is read on the calling (normal) scheduler, a larger one on a dirty I/O
  scheduler; `config :ttlkv, read_scheduler: :dirty` (compile time) reads every value on a
  dirty I/O scheduler. The README has the measurements behind the default.
  """
  @spec get(t(), namespace(), key()) :: {:ok, binary()} | :not_found | {:error, reason()}
  if @read_scheduler == :dirty do
    def get(store, namespace, key), do: TTLKV.NIF.get_dirty(ref!(store), namespace, key)
  else
    def get(store, namespace, key), do: TTLKV.NIF.get(ref!(store), namespace, key)
  end

  @doc """
  Removes `key`. `:ok` when a live entry was removed, `:not_found` when there was none.

      iex> dir = Path.join(System.tmp_dir!(), "ttlkv-doc-#{System.os_time()}")
      iex> {:ok, store} = TTLKV.open(dir)
      iex> TTLKV.put(store, "cache", "k", "v", 60_000)
      :ok
      iex> TTLKV.delete(store, "cache", "k")
      :ok
      iex> TTLKV.delete(store, "cache", "k")
      :not_found
  """
  @spec delete(t(), namespace(), key()) :: :ok | :not_found | {:error, reason()}
  def delete(store, namespace, key), do: TTLKV.NIF.delete(ref!(store), namespace, key)

  @doc """
  The deadline of a live `key`: wall-clock milliseconds since the Unix epoch (compare with
  `System.os_time(:millisecond)`), or `:infinity`.
  """
  @spec deadline(t(), namespace(), key()) ::
          {:ok, non_neg_integer() | :infinity} | :not_found | {:error, reason()}
  def deadline(store, namespace, key), do: TTLKV.NIF.deadline(ref!(store), namespace, key)

  @doc """
  Every live key of `namespace`, without the namespace, in byte order.
  """
  @spec keys(t(), namespace()) :: {:ok, [binary()]} | {:error, reason()}
  def keys(store, namespace), do: TTLKV.NIF.keys(ref!(store), namespace)

  @doc """
  Every live `{key, value}` of `namespace`, in key order, from one consistent snapshot.

      iex> dir = Path.join(System.tmp_dir!(), "ttlkv-doc-#{System.os_time()}")
      iex> {:ok, store} = TTLKV.open(dir)
      iex> TTLKV.put_many(store, "cache", [{"b", "2"}, {"a", "1"}], 60_000)
      :ok
      iex> TTLKV.entries(store, "cache")
      {:ok, [{"a", "1"}, {"b", "2"}]}
  """
  @spec entries(t(), namespace()) :: {:ok, [{binary(), binary()}]} | {:error, reason()}
  def entries(store, namespace), do: TTLKV.NIF.entries(ref!(store), namespace)

  # --- cache operations (README "Cache operations"; the same names in every language) ----

  @doc """
  Gives the live entry `key` a new deadline, now + `ttl_ms` (`:infinity`: never expires),
  without rewriting its value; its version does not change. `{:ok, true}` when a live entry got
  it, `{:ok, false}` when there is none (an expired entry is not brought back).

      iex> dir = Path.join(System.tmp_dir!(), "ttlkv-doc-#{System.os_time()}")
      iex> {:ok, store} = TTLKV.open(dir)
      iex> TTLKV.put(store, "sessions", "abc", "user 1", 1_000)
      :ok
      iex> TTLKV.touch(store, "sessions", "abc", :infinity)
      {:ok, true}
      iex> TTLKV.deadline(store, "sessions", "abc")
      {:ok, :infinity}
      iex> TTLKV.touch(store, "sessions", "nobody", 1_000)
      {:ok, false}
  """
  @spec touch(t(), namespace(), key(), ttl()) :: {:ok, boolean()} | {:error, reason()}
  def touch(store, namespace, key, ttl_ms),
    do: TTLKV.NIF.touch(ref!(store), namespace, key, ttl_ms)

  @doc """
  Writes `key` only if no live entry has it (an expired entry not yet removed counts as
  absent), atomically across processes: `{:ok, true}` when written, `{:ok, false}` when a live
  entry exists (C's `TTLKV_CONFLICT`; nothing is written).

      iex> dir = Path.join(System.tmp_dir!(), "ttlkv-doc-#{System.os_time()}")
      iex> {:ok, store} = TTLKV.open(dir)
      iex> TTLKV.add(store, "locks", "job-7", "worker a", 30_000)
      {:ok, true}
      iex> TTLKV.add(store, "locks", "job-7", "worker b", 30_000)
      {:ok, false}
      iex> TTLKV.get(store, "locks", "job-7")
      {:ok, "worker a"}
  """
  @spec add(t(), namespace(), key(), value(), ttl()) :: {:ok, boolean()} | {:error, reason()}
  def add(store, namespace, key, value, ttl_ms),
    do: TTLKV.NIF.add(ref!(store), namespace, key, value, ttl_ms)

  # The range of a delta (ttlkv_incr's int64_t): a fact of the C type, not a ttlkv constant.
  @int64_min -0x8000000000000000
  @int64_max 0x7FFFFFFFFFFFFFFF

  @doc """
  Adds `delta` (a signed 64-bit integer) to the counter `key` atomically and returns the new
  value. A counter is stored as ASCII decimal (`"42"`, `"-7"`), so every language and a shell
  read it; an existing counter keeps its deadline.

  A missing key is `:not_found`, as for `get/3`, unless `create: ttl_ms` (or `:infinity`) is
  given: the counter is then created with the value `delta` and that TTL.

  A value that is no counter is `{:error, {:not_a_counter, detail}}` and a sum outside 64 bits
  `{:error, {:overflow, detail}}`; neither changes the value.

      iex> dir = Path.join(System.tmp_dir!(), "ttlkv-doc-#{System.os_time()}")
      iex> {:ok, store} = TTLKV.open(dir)
      iex> TTLKV.incr(store, "hits", "page", 1)
      :not_found
      iex> TTLKV.incr(store, "hits", "page", 1, create: 60_000)
      {:ok, 1}
      iex> TTLKV.incr(store, "hits", "page", 41, create: 60_000)
      {:ok, 42}
      iex> TTLKV.get(store, "hits", "page")
      {:ok, "42"}
      iex> :ok = TTLKV.put(store, "hits", "text", "forty-two", 60_000)
      iex> {:error, {:not_a_counter, _detail}} = TTLKV.incr(store, "hits", "text", 1)
      iex> TTLKV.get(store, "hits", "text")
      {:ok, "forty-two"}
  """
  @spec incr(t(), namespace(), key(), integer(), [{:create, ttl()}]) ::
          {:ok, integer()} | :not_found | {:error, reason()}
  def incr(store, namespace, key, delta, opts \\ []) do
    check_delta!(:incr, delta, delta)
    TTLKV.NIF.incr(ref!(store), namespace, key, delta, create_ttl(:incr, opts))
  end

  @doc """
  `incr/5` with `-delta`: subtracts `delta` from the counter `key` (and creates a missing one
  with the value `-delta` when `create: ttl_ms` is given).

      iex> dir = Path.join(System.tmp_dir!(), "ttlkv-doc-#{System.os_time()}")
      iex> {:ok, store} = TTLKV.open(dir)
      iex> TTLKV.decr(store, "stock", "apples", 3, create: :infinity)
      {:ok, -3}
      iex> TTLKV.decr(store, "stock", "apples", -5)
      {:ok, 2}
  """
  @spec decr(t(), namespace(), key(), integer(), [{:create, ttl()}]) ::
          {:ok, integer()} | :not_found | {:error, reason()}
  def decr(store, namespace, key, delta, opts \\ []) do
    negated = if is_integer(delta), do: -delta, else: delta
    check_delta!(:decr, delta, negated)
    TTLKV.NIF.incr(ref!(store), namespace, key, negated, create_ttl(:decr, opts))
  end

  defp check_delta!(_fun, _delta, d) when is_integer(d) and d >= @int64_min and d <= @int64_max,
    do: :ok

  defp check_delta!(fun, delta, _d) do
    what = if fun == :decr, do: "an integer whose negation is", else: "an integer"

    raise ArgumentError,
          "TTLKV.#{fun}: delta must be #{what} in the signed 64-bit range, got: #{inspect(delta)}"
  end

  # nil (a missing key stays missing) or the TTL of a counter made when missing.
  defp create_ttl(fun, opts) do
    unless Keyword.keyword?(opts) do
      raise ArgumentError,
            "TTLKV.#{fun}: expected a keyword list of options, got: #{inspect(opts)}"
    end

    case Keyword.keys(opts) -- [:create] do
      [] -> :ok
      unknown -> raise ArgumentError, "unknown TTLKV.#{fun} options: #{inspect(unknown)}"
    end

    case Keyword.fetch(opts, :create) do
      :error ->
        nil

      {:ok, ttl} when (is_integer(ttl) and ttl >= 0) or ttl == :infinity ->
        ttl

      {:ok, other} ->
        raise ArgumentError,
              "TTLKV.#{fun}: create must be a TTL in milliseconds or :infinity, " <>
                "got: #{inspect(other)}"
    end
  end

  @doc """
  Removes the live entry `key` and returns its value, atomically: of two callers taking one
  key (in any processes), one gets `{:ok, value}`, the other `:not_found`.

      iex> dir = Path.join(System.tmp_dir!(), "ttlkv-doc-#{System.os_time()}")
      iex> {:ok, store} = TTLKV.open(dir)
      iex> TTLKV.put(store, "tokens", "reset-1", "user 7", 60_000)
      :ok
      iex> TTLKV.take(store, "tokens", "reset-1")
      {:ok, "user 7"}
      iex> TTLKV.take(store, "tokens", "reset-1")
      :not_found
  """
  @spec take(t(), namespace(), key()) :: {:ok, binary()} | :not_found | {:error, reason()}
  def take(store, namespace, key), do: TTLKV.NIF.take(ref!(store), namespace, key)

  @doc """
  `get/3` with the entry's version: `{:ok, {value, version}}` or `:not_found`. The version
  changes with every write of the value (`put`, `add`, `incr`, `put_if_version`; not `touch`),
  is positive and never repeats for a key. Pass it to `put_if_version/6`.
  """
  @spec get_versioned(t(), namespace(), key()) ::
          {:ok, {binary(), version()}} | :not_found | {:error, reason()}
  def get_versioned(store, namespace, key),
    do: TTLKV.NIF.get_versioned(ref!(store), namespace, key)

  @doc """
  Compare-and-set: writes `key` only if its live entry has version `expected` (from
  `get_versioned/3`), or, with `:absent`, only if it has no live entry. `{:ok, new_version}`
  when written; `{:error, :conflict}` when the entry has another version, exists where
  `:absent` was expected, or is gone where a version was expected: nothing is written then.

      iex> dir = Path.join(System.tmp_dir!(), "ttlkv-doc-#{System.os_time()}")
      iex> {:ok, store} = TTLKV.open(dir)
      iex> {:ok, v1} = TTLKV.put_if_version(store, "docs", "d", "draft", 60_000, :absent)
      iex> {:ok, {"draft", ^v1}} = TTLKV.get_versioned(store, "docs", "d")
      iex> {:ok, v2} = TTLKV.put_if_version(store, "docs", "d", "final", 60_000, v1)
      iex> v2 > v1
      true
      iex> TTLKV.put_if_version(store, "docs", "d", "lost update", 60_000, v1)
      {:error, :conflict}
  """
  @spec put_if_version(t(), namespace(), key(), value(), ttl(), version() | :absent) ::
          {:ok, version()} | {:error, :conflict | reason()}
  def put_if_version(store, namespace, key, value, ttl_ms, expected) do
    unless expected == :absent or (is_integer(expected) and expected > 0) do
      raise ArgumentError,
            "TTLKV.put_if_version: expected must be a version from get_versioned/3 " <>
              "(a positive integer) or :absent, got: #{inspect(expected)}"
    end

    TTLKV.NIF.put_if_version(ref!(store), namespace, key, value, ttl_ms, expected)
  end

  @doc """
  The values of `keys`, in their order, from one read snapshot: `{:ok, values}` where each
  element is the value or `nil` (no live entry: absent, deleted or expired). A list, not a
  map, so that the answer lines up with the question (duplicates included), as the C ABI's
  list does. At most `max_keys_per_call/0` keys: more is `{:error, {:batch_too_large, detail}}`;
  a key that is not a binary or iolist raises `ArgumentError` naming its index.

      iex> dir = Path.join(System.tmp_dir!(), "ttlkv-doc-#{System.os_time()}")
      iex> {:ok, store} = TTLKV.open(dir)
      iex> TTLKV.put_many(store, "cache", [{"a", "1"}, {"c", "3"}], 60_000)
      :ok
      iex> TTLKV.get_many(store, "cache", ["c", "b", "a"])
      {:ok, ["3", nil, "1"]}
  """
  @spec get_many(t(), namespace(), [key()]) :: {:ok, [binary() | nil]} | {:error, reason()}
  def get_many(store, namespace, keys) do
    ref = ref!(store)
    with_keys(:get_many, keys, fn -> TTLKV.NIF.get_many(ref, namespace, keys) end)
  end

  @doc """
  Removes `keys` in one transaction; `{:ok, removed}` counts the live entries that went. The
  same limits and errors as `get_many/3`; after an error nothing was removed.
  """
  @spec delete_many(t(), namespace(), [key()]) :: {:ok, non_neg_integer()} | {:error, reason()}
  def delete_many(store, namespace, keys) do
    ref = ref!(store)
    with_keys(:delete_many, keys, fn -> TTLKV.NIF.delete_many(ref, namespace, keys) end)
  end

  # Calls the NIF (which checks every key before it calls the library) and, when it raises for
  # an argument, names the first key of the list that is not a binary or iolist.
  defp with_keys(fun, keys, call) when is_list(keys) do
    call.()
  rescue
    e in ArgumentError -> reraise bad_keys(fun, keys, e), __STACKTRACE__
  end

  defp with_keys(fun, keys, _call),
    do: raise(ArgumentError, "TTLKV.#{fun}: keys must be a list, got: #{inspect(keys)}")

  defp bad_keys(fun, keys, original) do
    case first_bad_key(keys, 0) do
      nil ->
        original

      :improper ->
        ArgumentError.exception("TTLKV.#{fun}: keys must be a proper list, got: #{inspect(keys)}")

      {i, key} ->
        ArgumentError.exception(
          "TTLKV.#{fun}: the key at index #{i} is not a binary or iolist: #{inspect(key)}"
        )
    end
  end

  defp first_bad_key([], _i), do: nil

  defp first_bad_key([key | rest], i) do
    if iodata?(key), do: first_bad_key(rest, i + 1), else: {i, key}
  end

  defp first_bad_key(_tail, _i), do: :improper

  defp iodata?(term) when is_binary(term), do: true

  defp iodata?(term) when is_list(term) do
    IO.iodata_length(term) >= 0
  rescue
    ArgumentError -> false
  end

  defp iodata?(_term), do: false

  @doc """
  Removes every entry of `namespace`, in transactions of at most 10,000 entries (readers and
  writers go on between them, so an entry written meanwhile may survive); `{:ok, removed}`
  counts the live entries that went.
  """
  @spec clear(t(), namespace()) :: {:ok, non_neg_integer()} | {:error, reason()}
  def clear(store, namespace), do: TTLKV.NIF.clear(ref!(store), namespace)

  @doc """
  The number of live entries of `namespace`, from one snapshot (it reads every entry of the
  namespace).

      iex> dir = Path.join(System.tmp_dir!(), "ttlkv-doc-#{System.os_time()}")
      iex> {:ok, store} = TTLKV.open(dir)
      iex> TTLKV.put_many(store, "a", [{"1", ""}, {"2", ""}], 60_000)
      :ok
      iex> TTLKV.put(store, "b", "1", "", 60_000)
      :ok
      iex> TTLKV.count(store, "a")
      {:ok, 2}
      iex> TTLKV.namespaces(store)
      {:ok, ["a", "b"]}
      iex> TTLKV.clear(store, "a")
      {:ok, 2}
      iex> TTLKV.namespaces(store)
      {:ok, ["b"]}
  """
  @spec count(t(), namespace()) :: {:ok, non_neg_integer()} | {:error, reason()}
  def count(store, namespace), do: TTLKV.NIF.count(ref!(store), namespace)

  @doc "Every namespace that has a live entry, in byte order, from one snapshot."
  @spec namespaces(t()) :: {:ok, [binary()]} | {:error, reason()}
  def namespaces(store), do: TTLKV.NIF.namespaces(ref!(store))

  @doc """
  One page of the live entries of `namespace` whose keys start with `prefix`: at most `limit`
  (1 to `max_keys_per_call/0`) `{key, value}` pairs in key order, from one snapshot, with keys
  strictly after the cursor `after_key`. The first page has `after_key` `nil`; the next passes
  the last key of the previous page (any key is a cursor, the empty key `""` too: it is not
  `nil`). A page shorter than `limit` is the last. A `limit` out of range is
  `{:error, {:invalid_argument, detail}}`.

      iex> dir = Path.join(System.tmp_dir!(), "ttlkv-doc-#{System.os_time()}")
      iex> {:ok, store} = TTLKV.open(dir)
      iex> records = [{"u:1", "a"}, {"u:2", "b"}, {"u:3", "c"}, {"v", "d"}]
      iex> TTLKV.put_many(store, "s", records, 60_000)
      :ok
      iex> TTLKV.scan(store, "s", "u:", nil, 2)
      {:ok, [{"u:1", "a"}, {"u:2", "b"}]}
      iex> TTLKV.scan(store, "s", "u:", "u:2", 2)
      {:ok, [{"u:3", "c"}]}
  """
  @spec scan(t(), namespace(), iodata(), key() | nil, pos_integer()) ::
          {:ok, [{binary(), binary()}]} | {:error, reason()}
  def scan(store, namespace, prefix, after_key, limit),
    do: TTLKV.NIF.scan(ref!(store), namespace, prefix, after_key, limit)

  @doc """
  Bounds the bytes of the store's B-tree (`stats/1`'s `:tree_bytes`) at `max_bytes` (`nil`: no
  bound; else at least 64 KiB, a smaller bound is `{:error, {:invalid_argument, detail}}`), for
  every process using the store: the bound is kept in the store. With `:soonest_deadline` (the
  default) a write that would pass it first evicts entries, soonest deadline first (expired
  ones first of all, never-expiring ones last, never one the write itself makes; counted in
  `stats/1`'s `:evicted`); with `:none` such a write fails with `{:error, {:full, detail}}`
  and writes nothing. Deletes and expiry always work.

      iex> dir = Path.join(System.tmp_dir!(), "ttlkv-doc-#{System.os_time()}")
      iex> {:ok, store} = TTLKV.open(dir)
      iex> TTLKV.max_bytes(store)
      {:ok, {nil, :soonest_deadline}}
      iex> TTLKV.set_max_bytes(store, 64 * 1024 * 1024, :none)
      :ok
      iex> TTLKV.max_bytes(store)
      {:ok, {67_108_864, :none}}
  """
  @spec set_max_bytes(t(), pos_integer() | nil, eviction()) :: :ok | {:error, reason()}
  def set_max_bytes(store, max_bytes, eviction \\ :soonest_deadline) do
    unless is_nil(max_bytes) or (is_integer(max_bytes) and max_bytes > 0) do
      raise ArgumentError,
            "TTLKV.set_max_bytes: max_bytes must be a positive integer (bytes) or nil " <>
              "(no bound), got: #{inspect(max_bytes)}"
    end

    unless eviction in [:soonest_deadline, :none] do
      raise ArgumentError,
            "TTLKV.set_max_bytes: eviction must be :soonest_deadline or :none, " <>
              "got: #{inspect(eviction)}"
    end

    TTLKV.NIF.set_max_bytes(ref!(store), max_bytes, eviction)
  end

  @doc "The store's size bound (`nil`: none) and its eviction policy; see `set_max_bytes/3`."
  @spec max_bytes(t()) :: {:ok, {pos_integer() | nil, eviction()}} | {:error, reason()}
  def max_bytes(store), do: TTLKV.NIF.max_bytes(ref!(store))

  @doc """
  Copies the store into the directory `dest` (created with mode 0700 when absent, else it must
  be empty) from one snapshot while readers and writers go on; the copy opens as a store with
  every entry, deadline and the size bound. With `compact: true` free pages are left out, so
  the copy is only as large as the data: the way to shrink a store's file is a compacted
  backup, opened in place of the original once every process has closed it.
  """
  @spec backup(t(), Path.t(), [{:compact, boolean()}]) :: :ok | {:error, reason()}
  def backup(store, dest, opts \\ []) do
    unless Keyword.keyword?(opts) and Keyword.keys(opts) -- [:compact] == [] do
      raise ArgumentError,
            "TTLKV.backup: the only option is compact: boolean, got: #{inspect(opts)}"
    end

    compact = Keyword.get(opts, :compact, false)

    unless is_boolean(compact) do
      raise ArgumentError, "TTLKV.backup: compact must be a boolean, got: #{inspect(compact)}"
    end

    TTLKV.NIF.backup(ref!(store), IO.chardata_to_string(dest), compact)
  end

  @doc """
  The most keys one `get_many/3` or `delete_many/3` takes, and the largest `scan/5` limit
  (`TTLKV_MAX_KEYS_PER_CALL` of the header the NIF was built with).
  """
  @spec max_keys_per_call() :: pos_integer()
  def max_keys_per_call, do: TTLKV.NIF.max_keys_per_call()

  @doc """
  Flushes committed writes to disk now (for `durability: :periodic`, before a planned stop;
  cheap with `durability: :sync`, where every put is already on disk when it returns).
  """
  @spec flush(t()) :: :ok | {:error, reason()}
  def flush(store), do: TTLKV.NIF.flush(ref!(store))

  @doc """
  Removes every entry past its deadline now, without waiting for the library's expiry
  thread (which does the same on its own); returns how many this call removed. Expired
  entries are never returned either way: this only reclaims their space sooner.
  """
  @spec purge_expired(t()) :: {:ok, non_neg_integer()} | {:error, reason()}
  def purge_expired(store), do: TTLKV.NIF.purge_expired(ref!(store))

  @doc """
  The longest key `namespace` takes, in bytes (about 490 for a short namespace: LMDB's key
  limit less the namespace and the deadline index's share). A longer key is refused with
  `{:error, {:key_too_long, detail}}`, never truncated.

      iex> dir = Path.join(System.tmp_dir!(), "ttlkv-doc-#{System.os_time()}")
      iex> {:ok, store} = TTLKV.open(dir)
      iex> {:ok, max} = TTLKV.max_key_len(store, "cache")
      iex> TTLKV.put(store, "cache", :binary.copy("k", max), "v", 60_000)
      :ok
      iex> {:error, {:key_too_long, _detail}} =
      ...>   TTLKV.put(store, "cache", :binary.copy("k", max + 1), "v", 60_000)
  """
  @spec max_key_len(t(), namespace()) :: {:ok, non_neg_integer()} | {:error, reason()}
  def max_key_len(store, namespace), do: TTLKV.NIF.max_key_len(ref!(store), namespace)

  @doc """
  The counters of the store's background work in this OS process, as a map from each
  counter's name to its value: `:expired_removed`, `:write_calls`, `:map_size`,
  `:used_bytes`, ... one key per `TTLKV_STAT_*` counter of the linked library (the NIF takes
  the names from `ttlkv_stat_name()` when it loads). They are those of the store's
  environment, shared by every handle on the directory in this VM.
  """
  @spec stats(t()) :: {:ok, %{atom() => non_neg_integer()}} | {:error, reason()}
  def stats(store), do: TTLKV.NIF.stats(ref!(store))

  @doc """
  Checks, in one snapshot, that the entries and the deadline index agree. `{:ok, []}` when
  the store is consistent; otherwise `{:ok, problems}`, the library's description of the
  first ones, one string per line (`ttlkv_verify()` still succeeds on a damaged store). It
  reads every record, so it runs on a dirty I/O scheduler.

      iex> dir = Path.join(System.tmp_dir!(), "ttlkv-doc-#{System.os_time()}")
      iex> {:ok, store} = TTLKV.open(dir)
      iex> TTLKV.put(store, "cache", "k", "v", 60_000)
      :ok
      iex> TTLKV.verify(store)
      {:ok, []}
  """
  @spec verify(t()) :: {:ok, [String.t()]} | {:error, reason()}
  def verify(store) do
    case TTLKV.NIF.verify(ref!(store)) do
      {:ok, 0, _detail} -> {:ok, []}
      {:ok, count, detail} -> {:ok, problem_lines(count, detail)}
      {:error, _} = error -> error
    end
  end

  # The detail of a verify that found `count` problems, one string per non-empty line, as
  # Python's Store.verify reads it; a bare count when the library gave no text.
  defp problem_lines(count, detail) do
    case String.split(detail, ["\r\n", "\n", "\r"], trim: true) |> Enum.reject(&(&1 == "")) do
      [] -> ["#{count} problem(s)"]
      lines -> lines
    end
  end

  @doc "The library's version text: crate and LMDB versions."
  @spec version() :: String.t()
  def version, do: TTLKV.NIF.version()

  @doc "The C ABI version of the loaded library (the NIF refuses to load any other)."
  @spec abi_version() :: pos_integer()
  def abi_version, do: TTLKV.NIF.abi_version()

  # --- replication ---------------------------------------------------------------------

  @typedoc """
  A record with its replication order, as `records/2` and `versions/4` give it and `merge/2`
  takes it: `{namespace, key, value, deadline_ms, version, origin, tombstone?}` (the value is
  empty for a tombstone and in the lists of `versions/4`; the deadline is
  `18446744073709551615` for an entry that never expires).
  """
  @type replica_record ::
          {binary(), binary(), binary(), non_neg_integer(), non_neg_integer(), non_neg_integer(),
           boolean()}

  @doc """
  This store's origin: the tie-break between two stores' records of the same version.
  """
  @spec origin(t()) :: {:ok, non_neg_integer()} | {:error, reason()}
  def origin(store), do: TTLKV.NIF.origin(ref!(store))

  @doc """
  Makes the store replicating (or not), for every process and persistently: deletes (also
  `take/3`, `delete_many/3`) then leave tombstones that read as absent everywhere and expire
  only after every write they must beat, and a touch takes a new version. `TTLKV.PowCache`
  turns it on when it replicates.
  """
  @spec set_replicated(t(), boolean()) :: :ok | {:error, reason()}
  def set_replicated(store, on) when is_boolean(on), do: TTLKV.NIF.set_replicated(ref!(store), on)

  @doc "Whether the store replicates (`set_replicated/2`)."
  @spec replicated?(t()) :: {:ok, boolean()} | {:error, reason()}
  def replicated?(store), do: TTLKV.NIF.replicated(ref!(store))

  @doc """
  The stored, unexpired record (entry or tombstone) of each `{namespace, key}`, in the order
  asked, from one snapshot; keys without one are left out.
  """
  @spec records(t(), [{binary(), binary()}]) :: {:ok, [replica_record()]} | {:error, reason()}
  def records(store, keys) when is_list(keys), do: TTLKV.NIF.records(ref!(store), keys)

  @doc """
  `put/5`, then the key's record as `records/2` reads it, in one call: what a replicated
  write sends its peers, for one dirty-scheduler hop instead of two. The record is the one
  stored when it is read: another writer's newer one, if it came between.
  """
  @spec put_record(t(), namespace(), key(), value(), ttl()) ::
          {:ok, [replica_record()]} | {:error, reason()}
  def put_record(store, namespace, key, value, ttl_ms),
    do: TTLKV.NIF.put_records(ref!(store), namespace, key, value, ttl_ms)

  @doc """
  `delete/3` (a key that was not there is no error), then the key's record (its tombstone
  on a replicating store), in one call, as `put_record/5`.
  """
  @spec delete_record(t(), namespace(), key()) :: {:ok, [replica_record()]} | {:error, reason()}
  def delete_record(store, namespace, key),
    do: TTLKV.NIF.delete_records(ref!(store), namespace, key)

  @doc """
  Merges records of other stores in one transaction: each is written unless the stored
  record of its key is newer or the same by `{version, origin}`, or its deadline has passed.
  Returns how many were written; one bad record fails the call and writes nothing.
  """
  @spec merge(t(), [replica_record()]) :: {:ok, non_neg_integer()} | {:error, reason()}
  def merge(store, records) when is_list(records), do: TTLKV.NIF.merge(ref!(store), records)

  @doc """
  Anti-entropy's digest: a binary of `buckets` big-endian 64-bit hashes, each over the
  records (entries and tombstones) of one bucket whose deadline is after `cutoff_ms`. Two
  stores holding the same records have the same digest.
  """
  @spec digest(t(), pos_integer(), non_neg_integer()) :: {:ok, binary()} | {:error, reason()}
  def digest(store, buckets, cutoff_ms), do: TTLKV.NIF.digest(ref!(store), buckets, cutoff_ms)

  @doc "The records (without values) of the buckets `which` of a `digest/3`, in key order."
  @spec versions(t(), pos_integer(), [non_neg_integer()], non_neg_integer()) ::
          {:ok, [replica_record()]} | {:error, reason()}
  def versions(store, buckets, which, cutoff_ms) when is_list(which),
    do: TTLKV.NIF.versions(ref!(store), buckets, which, cutoff_ms)

  @doc """
  `versions/4` with the values: what a store holding nothing in those buckets (a node joining
  a cluster) takes whole with `merge/2`, without comparing versions first.
  """
  @spec bucket_records(t(), pos_integer(), [non_neg_integer()], non_neg_integer()) ::
          {:ok, [replica_record()]} | {:error, reason()}
  def bucket_records(store, buckets, which, cutoff_ms) when is_list(which),
    do: TTLKV.NIF.bucket_records(ref!(store), buckets, which, cutoff_ms)

  @doc false
  # scan/5 with each value decoded as `binary_to_term(v, [:safe])` in the NIF: `{key, term}`,
  # or `{key}` for a value that is no term this VM can safely make (TTLKV.PowCache.all/2).
  def scan_terms(store, namespace, prefix, after_key, limit),
    do: TTLKV.NIF.scan_terms(ref!(store), namespace, prefix, after_key, limit)

  defp clock_offset(opts) do
    case Keyword.get(opts, :clock_offset_ms, 0) do
      0 -> nil
      n when is_integer(n) -> n
      other -> raise ArgumentError, "clock_offset_ms must be an integer, got: #{inspect(other)}"
    end
  end

  defp ref!(%__MODULE__{ref: ref}), do: ref

  defp ref!(other),
    do: raise(ArgumentError, "expected a store returned by TTLKV.open/2, got: #{inspect(other)}")
end

defimpl Inspect, for: TTLKV do
  def inspect(%TTLKV{path: path}, _opts), do: "#TTLKV<#{path}>"
end
