defmodule TTLKV.PowCache do
  @moduledoc """
  A drop-in replacement for Pow's `Pow.Store.Backend.MnesiaCache`, on a ttlkv store.

  Add it to your supervision tree with an explicit directory, and point Pow at it:

      children = [
        {TTLKV.PowCache, path: "/var/lib/my_app/pow", durability: :sync},
        MyAppWeb.Endpoint
      ]

      config :my_app, :pow,
        user: MyApp.Users.User,
        repo: MyApp.Repo,
        cache_store_backend: TTLKV.PowCache

  ## Start options

    * `:path` (required) - the store's directory. Its identity is this path and nothing else:
      never a node name or a release folder. A directory that cannot be used (not creatable,
      not writable, a file, a store of an incompatible format) makes the start fail with a
      `TTLKV.PowCache.StartError` naming the path.
    * `:durability` - `:sync` (default) or `:periodic`, and the other options of
      `TTLKV.open/2` (`:sync_interval`, `:map_size`, `:max_map_size`, `:max_readers`,
      `:write_map`, `:allow_shared_dir`). An existing directory that other users could tamper
      with (another owner, or group- or world-writable) is a start error with reason
      `{:permission, detail}` unless `allow_shared_dir: true`.
    * `:name` - the registered name (default `TTLKV.PowCache`). Pow reaches the default
      instance; other names serve direct callers passing `name:` in their config.
    * `:timeout`, `:table_opts`, `:writes` - MnesiaCache options, accepted and ignored:
      nothing to wait for (opening is O(1) in the number of keys), no table, and a write is
      always visible to every reader when `put/2` returns (what `writes: :sync` asks for).
    * `:nodes`, `:extra_db_nodes` - multi-node replication is not supported yet; the start
      fails rather than silently running single-node.

  ## Config (every call)

    * `:ttl` - milliseconds, required for `put` (a missing or invalid TTL raises in the caller;
      the store keeps running).
    * `:namespace` - default `"cache"`.

  ## How calls run

  The supervised process opens the store and owns it: it closes it when it stops. Callers
  never go through its mailbox: the handle is published with `:persistent_term`, and every
  call goes straight to the NIF from the calling process, so reads and writes from thousands
  of processes run in parallel (writes group-commit in `:sync` mode). A call made while the
  store is not running raises `TTLKV.PowCache.Error`, as does any storage failure (`:full`,
  `:no_space`, ...): losing a session silently would be worse.

  Deadlines are absolute and stored with each entry, so they survive restarts; the library
  removes expired entries itself (and, at open, every entry that expired while the store was
  closed, in every namespace), and never returns one.

  ## Keys and values

  Values are any term (`:erlang.term_to_binary/1`; read back with `binary_to_term(_, [:safe])`).
  Keys follow `TTLKV.PowCache.Key`: binary keys are stored as their raw bytes, so other
  languages see the same key; list keys are encoded so no two different keys share bytes, and
  `key` and `[key]` are the same key.

  ## Replication, later

  Every write goes through `write/4`, one function a replication process can hook into; the
  store already keeps a per-entry version (a hybrid logical clock) and tombstone flag for
  last-writer-wins replication. Such a process would be started beside this one (it finds the
  handle with `store/1`) without changing the callers.
  """
  use GenServer

  require Logger

  alias TTLKV.PowCache.Key

  if Code.ensure_loaded?(Pow.Store.Backend.Base) do
    @behaviour Pow.Store.Backend.Base
  end

  @default_namespace "cache"
  @ignored_start_options [:timeout, :table_opts, :writes]
  @unsupported_start_options [:nodes, :extra_db_nodes]

  defmodule ConfigError do
    @moduledoc "A call's config is invalid (no `:ttl`, ...). Raised in the caller."
    defexception [:message]
  end

  defmodule StartError do
    @moduledoc "The store could not start; `path` is the directory it was given."
    defexception [:message, :path, :reason]
  end

  defmodule Error do
    @moduledoc "The store is not running, or the library reported a failure (`reason`)."
    defexception [:message, :reason]
  end

  @type config :: Keyword.t()
  @type key :: Key.t()
  @type record :: {key(), any()}
  @type key_match :: :_ | list() | binary()

  # --- supervision ---------------------------------------------------------------------

  @doc "A child spec: `{TTLKV.PowCache, path: dir}`."
  @spec child_spec(Keyword.t()) :: Supervisor.child_spec()
  def child_spec(opts) do
    %{
      id: Keyword.get(opts, :name, __MODULE__),
      start: {__MODULE__, :start_link, [opts]},
      type: :worker,
      restart: :permanent,
      shutdown: 5_000
    }
  end

  @doc """
  Starts the process that owns the store. See the module doc for the options.
  """
  @spec start_link(Keyword.t()) :: GenServer.on_start()
  def start_link(opts) when is_list(opts) do
    name = Keyword.get(opts, :name, __MODULE__)
    GenServer.start_link(__MODULE__, opts, name: name)
  end

  @doc """
  The `TTLKV` handle of a running instance (for tools and a future replication process).
  """
  @spec store(atom()) :: TTLKV.t() | nil
  def store(name \\ __MODULE__), do: :persistent_term.get({__MODULE__, name}, nil)

  @impl GenServer
  def init(opts) do
    # Trapping exits makes terminate/2 run when the supervisor stops us: the store is closed.
    Process.flag(:trap_exit, true)
    name = Keyword.get(opts, :name, __MODULE__)

    with {:ok, path} <- fetch_path(opts),
         :ok <- check_options(opts, path),
         {:ok, store} <- open(path, opts) do
      :persistent_term.put({__MODULE__, name}, store)
      Logger.info("#{inspect(__MODULE__)} opened #{path}")
      {:ok, %{store: store, name: name, path: path}}
    else
      {:error, %StartError{} = error} -> {:stop, error}
    end
  end

  defp fetch_path(opts) do
    case Keyword.get(opts, :path) do
      path when is_binary(path) and path != "" ->
        {:ok, Path.expand(path)}

      path ->
        {:error,
         %StartError{
           message:
             "#{inspect(__MODULE__)} needs an explicit :path (a directory for the store), " <>
               "got: #{inspect(path)}",
           path: path,
           reason: :path_missing
         }}
    end
  end

  defp check_options(opts, path) do
    case Keyword.keys(opts) -- [:path, :name | TTLKV.open_options() ++ @ignored_start_options] do
      [] ->
        :ok

      unknown ->
        unsupported = Enum.filter(unknown, &(&1 in @unsupported_start_options))

        message =
          if unsupported != [] do
            "#{inspect(__MODULE__)} (#{path}) does not support #{inspect(unsupported)} yet: " <>
              "multi-node replication is a later step; it runs on one node"
          else
            "#{inspect(__MODULE__)} (#{path}): unknown options #{inspect(unknown)}"
          end

        {:error, %StartError{message: message, path: path, reason: {:options, unknown}}}
    end
  end

  defp open(path, opts) do
    case TTLKV.open(path, Keyword.take(opts, TTLKV.open_options())) do
      {:ok, store} ->
        {:ok, store}

      {:error, reason} ->
        {:error,
         %StartError{
           message: "#{inspect(__MODULE__)} cannot use #{path}: #{format_reason(reason)}",
           path: path,
           reason: reason
         }}
    end
  rescue
    e in ArgumentError ->
      {:error,
       %StartError{
         message: "#{inspect(__MODULE__)} (#{path}): #{Exception.message(e)}",
         path: path,
         reason: :options
       }}
  end

  @impl GenServer
  def terminate(_reason, %{store: store, name: name}) do
    # Unpublish first, so callers see "not running" rather than a closed handle.
    :persistent_term.erase({__MODULE__, name})
    TTLKV.close(store)
    :ok
  end

  # --- Pow.Store.Backend.Base ----------------------------------------------------------

  @doc """
  Stores one `{key, value}` or a list of them (atomically: all or none) with the config's
  `:ttl`. Overwriting a key restarts its lifetime.
  """
  @spec put(config(), record() | [record()]) :: :ok
  def put(config, record_or_records) do
    ttl = ttl!(config)
    namespace = namespace!(config)

    case record_or_records do
      {key, value} ->
        write(config, namespace, [{key, value}], ttl)

      [] ->
        :ok

      records when is_list(records) ->
        write(config, namespace, records, ttl)

      other ->
        raise ArgumentError,
              "expected a {key, value} record or a list of them, got: #{inspect(other)}"
    end
  end

  @doc false
  # The single write path: a replication process would hook in here.
  @spec write(config(), binary(), [record()], pos_integer() | :infinity) :: :ok
  def write(config, namespace, [{key, value}], ttl) do
    store!(config)
    |> TTLKV.put(namespace, Key.encode(key), :erlang.term_to_binary(value), ttl)
    |> ok!(:put)
  end

  def write(config, namespace, records, ttl) do
    encoded =
      Enum.map(records, fn
        {key, value} ->
          {Key.encode(key), :erlang.term_to_binary(value)}

        other ->
          raise ArgumentError, "expected a {key, value} record, got: #{inspect(other)}"
      end)

    store!(config)
    |> TTLKV.put_many(namespace, encoded, ttl)
    |> ok!(:put)
  end

  @doc "The value of a live key, or `:not_found` (never set, deleted or expired)."
  @spec get(config(), key()) :: any() | :not_found
  def get(config, key) do
    namespace = namespace!(config)

    case TTLKV.get(store!(config), namespace, Key.encode(key)) do
      {:ok, bin} -> decode_value(bin, namespace, key)
      :not_found -> :not_found
      {:error, reason} -> fail!(reason, :get)
    end
  end

  @doc "Removes a key. Always `:ok`."
  @spec delete(config(), key()) :: :ok
  def delete(config, key) do
    case TTLKV.delete(store!(config), namespace!(config), Key.encode(key)) do
      :ok -> :ok
      :not_found -> :ok
      {:error, reason} -> fail!(reason, :delete)
    end
  end

  @doc """
  Every live `{key, value}` of the namespace whose key matches `key_match`, in key order,
  keys without the namespace. `key_match` is a match-spec head over the key as Pow sees it:
  `:_` (every key, list keys included), `["user", :_]`, `["user" | :_]`, ...

  When the match's leading segments are bound and its length fixed (Pow's
  `[struct, :user, id, :session, :_]` and `[struct, :user, :_]`), only the keys starting with
  those segments' encoding are read, with `TTLKV.scan/5` (`TTLKV.PowCache.Key.match_prefix/1`
  says when); otherwise every entry of the namespace is decoded and matched.
  """
  @spec all(config(), key_match()) :: [record()]
  def all(config, key_match) do
    namespace = namespace!(config)
    store = store!(config)

    entries =
      case Key.match_prefix(key_match) do
        {:ok, prefix} ->
          scan_prefix(store, namespace, prefix, nil, [])

        :none ->
          case TTLKV.entries(store, namespace) do
            {:ok, entries} -> entries
            {:error, reason} -> fail!(reason, :all)
          end
      end

    entries
    |> Enum.map(fn {raw, bin} -> {Key.list_form(Key.decode(raw)), bin} end)
    |> match(key_match)
    |> in_key_order(entries)
    |> Enum.flat_map(fn {list_form, bin} ->
      key = Key.unwrap(list_form)

      case decode_value(bin, namespace, key) do
        :not_found -> []
        value -> [{key, value}]
      end
    end)
  end

  # Every live entry whose key starts with `prefix`, in key order: one snapshot, unless more
  # than a page (TTLKV_MAX_KEYS_PER_CALL) match, as no Pow match does.
  defp scan_prefix(store, namespace, prefix, after_key, pages) do
    limit = TTLKV.max_keys_per_call()

    case TTLKV.scan(store, namespace, prefix, after_key, limit) do
      {:ok, page} when length(page) == limit ->
        {last, _value} = List.last(page)
        scan_prefix(store, namespace, prefix, last, [page | pages])

      {:ok, page} ->
        Enum.concat(Enum.reverse([page | pages]))

      {:error, reason} ->
        fail!(reason, :all)
    end
  end

  # The library lists keys in byte order, which for raw binary keys already is Erlang term
  # order. Only escaped and list keys (first byte 0x00, so listed first, after the empty key
  # if there is one) need a sort.
  defp in_key_order(pairs, [{<<0, _::binary>>, _} | _]), do: Enum.sort(pairs)
  defp in_key_order(pairs, [{"", _}, {<<0, _::binary>>, _} | _]), do: Enum.sort(pairs)
  defp in_key_order(pairs, _entries), do: pairs

  defp match(pairs, :_), do: pairs

  defp match(pairs, key_match) do
    spec = :ets.match_spec_compile([{{List.wrap(key_match), :_}, [], [:"$_"]}])
    :ets.match_spec_run(pairs, spec)
  end

  # --- deprecated (Pow v1.0.1's API) -----------------------------------------------------

  @doc "Deprecated (Pow v1.0.1): `put(config, {key, value})`."
  @deprecated "Use put/2 instead"
  @spec put(config(), key(), any()) :: :ok
  def put(config, key, value), do: put(config, {key, value})

  @doc """
  Deprecated (Pow v1.0.1): the namespace's live keys, without the namespace.

  This is the v1.0.1 contract (a list of keys), which is what the Pow versions that still
  call `keys/1` expect; newer Pow calls `all/2` instead.
  """
  @deprecated "Use all/2 instead"
  @spec keys(config()) :: [key()]
  def keys(config), do: config |> all(:_) |> Enum.map(&elem(&1, 0))

  # --- helpers ---------------------------------------------------------------------------

  defp decode_value(bin, namespace, key) do
    :erlang.binary_to_term(bin, [:safe])
  rescue
    ArgumentError ->
      # A term naming atoms this VM does not know (or bytes another program wrote): a miss,
      # not a crash, and never a new atom.
      Logger.warning(
        "#{inspect(__MODULE__)}: the value of #{inspect(key)} in #{inspect(namespace)} " <>
          "is not a term this VM can safely decode; treated as not found"
      )

      :not_found
  end

  defp store!(config) do
    name = Keyword.get(config, :name, __MODULE__)

    case :persistent_term.get({__MODULE__, name}, nil) do
      nil ->
        raise Error,
          message: "#{inspect(__MODULE__)} #{inspect(name)} is not running",
          reason: :not_running

      store ->
        store
    end
  end

  defp ok!(:ok, _op), do: :ok
  defp ok!({:error, reason}, op), do: fail!(reason, op)

  defp fail!(reason, op) do
    raise Error,
      message: "#{inspect(__MODULE__)} #{op} failed: #{format_reason(reason)}",
      reason: reason
  end

  defp format_reason(:closed), do: "the store is closed"
  defp format_reason({status, detail}), do: "#{inspect(status)} #{detail}"

  defp ttl!(config) do
    case Keyword.get(config, :ttl) do
      nil ->
        raise_config_error("`:ttl` configuration option is required for #{inspect(__MODULE__)}")

      ttl when (is_integer(ttl) and ttl > 0) or ttl == :infinity ->
        ttl

      other ->
        raise_config_error(
          "`:ttl` must be a positive integer (milliseconds) or :infinity for " <>
            "#{inspect(__MODULE__)}, got: #{inspect(other)}"
        )
    end
  end

  defp namespace!(config) do
    case Keyword.get(config, :namespace, @default_namespace) do
      ns when is_binary(ns) and byte_size(ns) in 1..255 ->
        ns

      other ->
        raise_config_error(
          "`:namespace` must be a binary of 1 to 255 bytes for #{inspect(__MODULE__)}, " <>
            "got: #{inspect(other)}"
        )
    end
  end

  # Pow's own exception when Pow is there, so code rescuing it keeps working.
  defp raise_config_error(message) do
    pow_error = Pow.Config.ConfigError

    if Code.ensure_loaded?(pow_error) do
      raise pow_error, message: message
    else
      raise ConfigError, message: message
    end
  end
end
