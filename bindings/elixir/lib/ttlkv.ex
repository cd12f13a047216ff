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
  `:storage`, `:invalid_argument`, `:panic`) and `detail` the library's text for this failure.
  Arguments of the wrong type (a key that is not a binary or iolist, a negative TTL, a map for
  a store) raise `ArgumentError`.

  ## Schedulers

  Every call that opens an LMDB transaction runs on a dirty I/O scheduler, so a put waiting
  on fsync never holds up a normal scheduler, with one measured exception: `get/3` of a value
  up to 4 KiB runs on the caller's scheduler (p99 in microseconds, cold page cache included;
  the README has the numbers), and moves to a dirty I/O scheduler for larger values.
  `max_key_len/2` opens no transaction (it is arithmetic on the namespace's length) and runs
  on the caller's scheduler too; `stats/1` and `verify/1` run on dirty I/O schedulers.
  """

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

  @type open_option ::
          {:durability, :sync | :periodic}
          | {:sync_interval, pos_integer()}
          | {:map_size, pos_integer()}
          | {:max_map_size, pos_integer()}
          | {:max_readers, pos_integer()}
          | {:write_map, boolean()}
          | {:allow_shared_dir, boolean()}

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
    :allow_shared_dir
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
    * `:allow_shared_dir` - accept an existing directory that other users could tamper with:
      one owned by another user, or writable by its group or by others (default `false`). By
      default such a directory is refused with `{:error, {:permission, detail}}` (the detail
      names `allow_shared_dir`), because those users could swap `lock.mdb` or `data.mdb` for
      a link to one of your files. Set it only for a directory shared on purpose by users who
      trust each other. Either way, a `data.mdb` or `lock.mdb` that is a symbolic link, has
      more than one hard link or is not a regular file is refused with
      `{:error, {:path_invalid, detail}}` and left untouched.

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

    nif_opts = {
      durability,
      positive(opts, :sync_interval),
      positive(opts, :map_size),
      positive(opts, :max_map_size),
      positive(opts, :max_readers),
      flag(opts, :write_map),
      flag(opts, :allow_shared_dir)
    }

    case TTLKV.NIF.open(path, nif_opts) do
      {:ok, ref} -> {:ok, %__MODULE__{ref: ref, path: path}}
      {:error, _} = error -> error
    end
  end

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

  defp ref!(%__MODULE__{ref: ref}), do: ref

  defp ref!(other),
    do: raise(ArgumentError, "expected a store returned by TTLKV.open/2, got: #{inspect(other)}")
end

defimpl Inspect, for: TTLKV do
  def inspect(%TTLKV{path: path}, _opts), do: "#TTLKV<#{path}>"
end
