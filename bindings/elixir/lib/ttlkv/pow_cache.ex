defmodule TTLKV.PowCache do
  @moduledoc """
  A drop-in replacement for Pow's `Pow.Store.Backend.MnesiaCache`, on a ttlkv store.

  Add it to your supervision tree, preferably with an explicit directory, and point Pow at it:

      children = [
        {TTLKV.PowCache, path: "/var/lib/my_app/pow", durability: :sync},
        MyAppWeb.Endpoint
      ]

      config :my_app, :pow,
        user: MyApp.Users.User,
        repo: MyApp.Repo,
        cache_store_backend: TTLKV.PowCache

  A bare child, the way Pow's docs list MnesiaCache (`children = [TTLKV.PowCache]`), starts
  too: see `:path` below for the directory it then picks.

  ## Start options

    * `:path` - the store's directory. Its identity is this path and nothing else. Without
      it, the directory is the application env's `config :ttlkv, TTLKV.PowCache, path: dir`
      (for the instance of the default name), else, the way Mnesia picks `Mnesia.<node>`,
      `TTLKV.PowCache.<node>` in the current working directory (`<name>.<node>` for an
      instance of another name), logged with a warning at start: a different node name or
      working directory (a new release folder, say) is then a different, empty store, which
      is how Mnesia users lost their sessions, so give a path in production. A directory that
      cannot be used (not creatable, not writable, a file, a store of an incompatible format)
      makes the start fail with a `TTLKV.PowCache.StartError` naming the path.
    * `:on_corruption` - `:reset` (the default here) or `:error`, as for `TTLKV.open/2`: a
      store found damaged at start (after a power loss or an OS crash, say) is moved aside to
      `<path>.corrupted-<unix ms>`, logged with a warning naming both paths, and replaced by
      an empty store, or with `:error` the start fails with reason `{:corrupted, detail}`.
      Reset is the default because what Pow keeps is ephemeral and rebuilt by use (sessions,
      tokens: users log in again), while a node that cannot boot until someone deletes a
      directory by hand takes the whole application down; `TTLKV.open/2` itself keeps
      `:error` as its default, since it cannot know that its data is expendable. Choose
      `:error` to inspect a damaged store before anything replaces it. A reset directory is
      kept aside, never deleted: remove it once looked at.
    * `:durability` - `:sync` (default) or `:periodic`, and the other options of
      `TTLKV.open/2` (`:sync_interval`, `:map_size`, `:max_map_size`, `:max_readers`,
      `:write_map`, `:crash_safe`, `:allow_shared_dir`). An existing directory that other users could tamper
      with (another owner, or group- or world-writable) is a start error with reason
      `{:permission, detail}` unless `allow_shared_dir: true`.
    * `:name` - the registered name (default `TTLKV.PowCache`). Pow reaches the default
      instance; other names serve direct callers passing `name:` in their config.
    * `:timeout`, `:table_opts` - MnesiaCache options, accepted and ignored: nothing to wait
      for (opening is O(1) in the number of keys) and no table. (`:writes` is accepted here
      too, though Pow reads it from each call's config; see below.)
    * `:nodes`, `:extra_db_nodes` - nodes to connect at start (a list, or `{m, f, a}`
      returning one, as Pow's MnesiaCache takes them: `extra_db_nodes: {Node, :list, []}`).
      Every connected node running a PowCache of the same `:name` is a peer; membership then
      follows distribution as nodes come and go (see "Replication" below).
    * `:replicate` - `:sync` (the default), `:async` or `false` (this node keeps its store to
      itself). Replication runs only on a distributed node (`--sname`/`--name`); on another,
      `:nodes` are logged as not joinable and the store runs alone.
    * `:replicate_timeout` - how long a `:sync` write waits for the peers, in ms (default
      5,000); a peer that did not answer by then is repaired by anti-entropy.
    * `:sync_on_start` - how long the start may wait (ms, default 15,000) for the peers on
      the configured nodes and one exchange with them, so that a node joining the cluster
      serves its sessions from its first request; `false` starts at once.
    * `:anti_entropy_interval` - ms between two background comparisons with every peer
      (default 10,000): the bound on how long a write made by another OS process on this
      node's store (Python, C, the CLI) takes to reach the peers, and on how long a peer that
      missed a push stays behind.

  The instance of the default name also takes its start options from the application env,
  `config :ttlkv, TTLKV.PowCache, path: ..., on_corruption: ...`; the child spec's options win
  over them.

  Starting again right after a stop is fine, also outside a supervisor: when the name is
  still held by an instance that is stopping (it received its parent's exit signal and is
  closing the store in `terminate/2`), `start_link/1` waits for it to finish instead of
  returning `{:error, {:already_started, pid}}`.

  ## Config (every call)

    * `:ttl` - milliseconds, required for `put` (a missing or invalid TTL raises in the caller;
      the store keeps running).
    * `:namespace` - default `"cache"`.
    * `:writes` - `:sync` (default) or `:async`, as in Pow 1.0.25 and later, both accepted.
      Every write is synchronous here: `put/2` and `delete/2` return once the write is
      visible to every reader (and, with `durability: :sync`, on disk). That is stronger than
      `:async` (whose writes become visible some time after the call returns), so code
      written for either works; only code relying on a write *not* yet being visible right
      after the call (as Pow's own EtsCache test of `:async` checks) sees a difference.
      On a replicating node, `writes: :async` also makes that call's replication
      asynchronous (the peers get it without the caller waiting); `:sync` follows the start
      option `:replicate`.

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

  ## Replication

  Every node keeps a full store, and `TTLKV.Replicator` (one process per instance, the only
  one that touches the network) sends each write to the instances of the same name on the
  other nodes, found through an OTP `:pg` scope. A `:sync` `put/2` or `delete/2` returns
  once every connected peer applied it (bounded by `:replicate_timeout`), so a session
  written on node A is readable on node B at the next request, and a logout on B ends the
  session on A. Conflicts (two nodes writing one key during a netsplit) resolve
  last-writer-wins on the record's version (a hybrid logical clock, advanced by every merge)
  and the store's id, the same way on every node. Deletes leave tombstones that outlive every
  write they must beat (the namespace's largest TTL plus a minute), so a logged-out session
  never comes back, also not through a node that was away. Expiry sends nothing: deadlines
  travel with the records and every node expires on its own.

  Joins, late joins (a node that ran alone and took writes), restarts under new node names
  and healed netsplits run anti-entropy (bucket digests, then the versions of the differing
  buckets, then only the newer records) and merge: no node is ever wiped, unlike Mnesia's
  (and Pow's `MnesiaCache.Unsplit`'s) "one island wins". Every write path, `put/2`,
  `delete/2`, goes through the store then the replicator; reads never leave the node.

  """
  use GenServer

  require Logger

  alias TTLKV.PowCache.Key

  if Code.ensure_loaded?(Pow.Store.Backend.Base) do
    @behaviour Pow.Store.Backend.Base
  end

  @default_namespace "cache"
  @ignored_start_options [:timeout, :table_opts, :writes]
  @replication_options [
    :nodes,
    :extra_db_nodes,
    :replicate,
    :replicate_timeout,
    :sync_on_start,
    :anti_entropy_interval
  ]
  # How long start_link/1 waits for a stopping instance of the same name to finish closing
  # its store (the child spec's shutdown).
  @shutdown 5_000
  # How many times start_link/1 starts again after waiting for a stopping instance.
  @start_retries 3

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

  @doc "A child spec: `{TTLKV.PowCache, path: dir}`, or `TTLKV.PowCache` alone."
  @spec child_spec(Keyword.t()) :: Supervisor.child_spec()
  def child_spec(opts) do
    %{
      id: Keyword.get(opts, :name, __MODULE__),
      start: {__MODULE__, :start_link, [opts]},
      type: :worker,
      restart: :permanent,
      shutdown: @shutdown
    }
  end

  @doc """
  Starts the process that owns the store. See the module doc for the options.
  """
  @spec start_link(Keyword.t()) :: GenServer.on_start()
  def start_link(opts \\ []) when is_list(opts) do
    start_link(opts, Keyword.get(opts, :name, __MODULE__), @start_retries)
  end

  defp start_link(opts, name, retries) do
    case GenServer.start_link(__MODULE__, opts, name: name) do
      {:error, {:already_started, pid}} = error when retries > 0 ->
        if stopped?(pid), do: start_link(opts, name, retries - 1), else: error

      other ->
        other
    end
  end

  # Whether `pid`, holding our name, was stopping: an instance trapping exits keeps its name
  # registered while terminate/2 closes the store. A system request (answered even by a
  # suspended process) comes after any exit signal this process sent it before, since
  # signals between two processes arrive in order: so a running instance answers, and one
  # that was told to stop terminates first and the request exits (the name is free then).
  defp stopped?(pid) do
    _ = :sys.get_state(pid, @shutdown)
    false
  catch
    :exit, {:timeout, _} -> false
    :exit, _gone -> true
  end

  @doc """
  The `TTLKV` handle of a running instance (for tools).
  """
  @spec store(atom()) :: TTLKV.t() | nil
  def store(name \\ __MODULE__), do: :persistent_term.get({__MODULE__, name}, nil)

  @impl GenServer
  def init(opts) do
    # Trapping exits makes terminate/2 run when the supervisor stops us: the store is closed.
    Process.flag(:trap_exit, true)
    name = Keyword.get(opts, :name, __MODULE__)

    with {:ok, opts} <- with_app_env(opts, name),
         {:ok, path, source} <- fetch_path(opts, name),
         :ok <- check_options(opts, path),
         {:ok, store} <- open(path, opts),
         {:ok, replicator} <- start_replication(store, name, path, opts) do
      :persistent_term.put({__MODULE__, name}, store)
      log_opened(path, source)
      {:ok, %{store: store, name: name, path: path, replicator: replicator}}
    else
      {:error, %StartError{} = error} -> {:stop, error}
    end
  end

  # The default instance's start options from `config :ttlkv, TTLKV.PowCache, ...`, under the
  # child spec's.
  defp with_app_env(opts, __MODULE__) do
    case Application.get_env(:ttlkv, __MODULE__, []) do
      env when is_list(env) ->
        if Keyword.keyword?(env) do
          {:ok, Keyword.merge(Keyword.delete(env, :name), opts)}
        else
          app_env_error(env)
        end

      env ->
        app_env_error(env)
    end
  end

  defp with_app_env(opts, _other_name), do: {:ok, opts}

  defp app_env_error(env) do
    {:error,
     %StartError{
       message:
         "#{inspect(__MODULE__)}: config :ttlkv, #{inspect(__MODULE__)} must be a keyword " <>
           "list of start options, got: #{inspect(env)}",
       path: nil,
       reason: {:app_env, env}
     }}
  end

  # {:ok, absolute path, where it came from}: the :path option (or the app env's, merged in),
  # else a directory named after the instance and the node in the working directory, as
  # Mnesia's default dir is "Mnesia.<node>" there.
  defp fetch_path(opts, name) do
    case Keyword.fetch(opts, :path) do
      {:ok, path} when is_binary(path) and path != "" ->
        {:ok, Path.expand(path), :given}

      {:ok, path} ->
        {:error,
         %StartError{
           message:
             "#{inspect(__MODULE__)}: :path must be a non-empty string (a directory for the " <>
               "store), got: #{inspect(path)}",
           path: path,
           reason: :path_invalid
         }}

      :error ->
        default_path(name)
    end
  end

  defp default_path(name) do
    base = name |> Atom.to_string() |> String.replace_prefix("Elixir.", "")

    case File.cwd() do
      {:ok, cwd} ->
        {:ok, Path.join(cwd, "#{base}.#{node()}"), :default}

      {:error, reason} ->
        {:error,
         %StartError{
           message:
             "#{inspect(__MODULE__)}: no :path given, and the current directory (where the " <>
               "default #{base}.#{node()} would be) cannot be read: #{inspect(reason)}",
           path: nil,
           reason: {:cwd, reason}
         }}
    end
  end

  defp log_opened(path, :given), do: Logger.info("#{inspect(__MODULE__)} opened #{path}")

  defp log_opened(path, :default) do
    Logger.warning(
      "#{inspect(__MODULE__)} opened #{path}: no :path was given, so the store is named " <>
        "after this node (#{node()}) in the current directory, as Mnesia names Mnesia.<node>. " <>
        "Another node name or working directory means another, empty store (sessions lost): " <>
        "give {#{inspect(__MODULE__)}, path: dir} or config :ttlkv, #{inspect(__MODULE__)}, " <>
        "path: dir."
    )
  end

  defp check_options(opts, path) do
    known = [:path, :name | TTLKV.open_options() ++ @ignored_start_options ++ @replication_options]

    case Enum.uniq(Keyword.keys(opts)) -- known do
      [] ->
        check_replication_options(opts, path)

      unknown ->
        message = "#{inspect(__MODULE__)} (#{path}): unknown options #{inspect(unknown)}"
        {:error, %StartError{message: message, path: path, reason: {:options, unknown}}}
    end
  end

  defp check_replication_options(opts, path) do
    checks = [
      replicate: &(&1 in [:sync, :async, false]),
      replicate_timeout: &(is_integer(&1) and &1 > 0),
      sync_on_start: &(&1 == false or (is_integer(&1) and &1 > 0)),
      anti_entropy_interval: &(is_integer(&1) and &1 > 0),
      nodes: &nodes_option?/1,
      extra_db_nodes: &nodes_option?/1
    ]

    case Enum.find(checks, fn {key, ok?} -> Keyword.has_key?(opts, key) and not ok?.(opts[key]) end) do
      nil ->
        :ok

      {key, _} ->
        {:error,
         %StartError{
           message:
             "#{inspect(__MODULE__)} (#{path}): invalid #{inspect(key)}: #{inspect(opts[key])} " <>
               "(see the module doc for its values)",
           path: path,
           reason: {:options, [key]}
         }}
    end
  end

  defp nodes_option?(nodes) when is_list(nodes), do: Enum.all?(nodes, &is_atom/1)
  defp nodes_option?({m, f, a}) when is_atom(m) and is_atom(f) and is_list(a), do: true
  defp nodes_option?(_), do: false

  # --- replication ---------------------------------------------------------------------

  # {:ok, nil} when this node does not replicate (not distributed, or `replicate: false`),
  # else {:ok, replicator pid}, after connecting the given nodes and, with sync_on_start, the
  # first exchange with the peers found there.
  defp start_replication(store, name, path, opts) do
    mode = Keyword.get(opts, :replicate, :sync)
    nodes = configured_nodes(opts)

    cond do
      mode == false ->
        {:ok, nil}

      not Node.alive?() ->
        if nodes != [] do
          Logger.warning(
            "#{inspect(__MODULE__)} (#{path}): this node is not distributed (start it with " <>
              "--sname or --name), so #{inspect(nodes)} cannot be joined: running alone"
          )
        end

        {:ok, nil}

      true ->
        connected = Enum.filter(nodes, &(&1 != node() and Node.connect(&1) == true))

        {:ok, pid} =
          TTLKV.Replicator.start_link(
            store: store,
            group: name,
            interval: Keyword.get(opts, :anti_entropy_interval, 10_000)
          )

        timeout = Keyword.get(opts, :replicate_timeout, 5_000)
        :persistent_term.put({__MODULE__, name, :replication}, {pid, mode, timeout})

        case Keyword.get(opts, :sync_on_start, 15_000) do
          false -> :ok
          bound -> initial_sync(pid, connected, bound, name, path)
        end

        {:ok, pid}
    end
  end

  # Waits (bounded) until the replicators of the connected configured nodes are visible, then
  # runs one exchange with every peer: a node joining a cluster starts holding its sessions.
  defp initial_sync(pid, nodes, bound, name, path) do
    deadline = System.monotonic_time(:millisecond) + bound
    wait_for_peers(pid, nodes, deadline)
    left = max(deadline - System.monotonic_time(:millisecond), 1)

    case TTLKV.Replicator.sync(pid, left) do
      {:ok, _} ->
        :ok

      {:error, :timeout} ->
        Logger.warning(
          "#{inspect(__MODULE__)} #{inspect(name)} (#{path}): the first exchange with the " <>
            "peers did not finish within #{bound} ms (sync_on_start); starting, anti-entropy goes on"
        )
    end
  end

  defp wait_for_peers(pid, nodes, deadline) do
    seen = pid |> TTLKV.Replicator.peers() |> Enum.map(&node/1)

    if Enum.all?(nodes, &(&1 in seen)) or System.monotonic_time(:millisecond) >= deadline do
      :ok
    else
      Process.sleep(10)
      wait_for_peers(pid, nodes, deadline)
    end
  end

  defp configured_nodes(opts) do
    Enum.flat_map([:nodes, :extra_db_nodes], fn key ->
      case Keyword.get(opts, key, []) do
        {m, f, a} -> apply(m, f, a)
        list -> list
      end
    end)
    |> Enum.uniq()
  end

  # After a local write of `keys` of `namespace`: its records go to the peers, without the
  # caller waiting when the call's config says `writes: :async`.
  defp replicate(config, store, namespace, keys) do
    case replication(config) do
      nil -> :ok
      to -> store |> TTLKV.records(Enum.map(keys, &{namespace, &1})) |> push(to, :replicate)
    end
  end

  # Where this config's writes replicate to, and how (`writes: :async` on the call's config
  # makes them async), or nil when the cache does not replicate.
  defp replication(config) do
    case :persistent_term.get({__MODULE__, name(config), :replication}, nil) do
      nil ->
        nil

      {pid, mode, timeout} ->
        {pid, if(Keyword.get(config, :writes) == :async, do: :async, else: mode), timeout}
    end
  end

  # Sends the records a local write left to the peers (see replicate/4).
  defp push({:ok, records}, {pid, mode, timeout}, _op),
    do: TTLKV.Replicator.replicate(pid, records, mode, timeout)

  defp push({:error, reason}, _to, op), do: fail!(reason, op)

  defp open(path, opts) do
    open_opts =
      opts
      |> Keyword.take(TTLKV.open_options())
      |> Keyword.put_new(:on_corruption, :reset)

    case TTLKV.open(path, open_opts) do
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
  def terminate(_reason, %{store: store, name: name, replicator: replicator}) do
    # Unpublish first, so callers see "not running" rather than a closed handle.
    :persistent_term.erase({__MODULE__, name})
    :persistent_term.erase({__MODULE__, name, :replication})
    if replicator, do: stop_replicator(replicator)
    TTLKV.close(store)
    :ok
  end

  defp stop_replicator(pid) do
    GenServer.stop(pid, :normal, @shutdown)
  catch
    :exit, _ -> :ok
  end

  @impl GenServer
  def handle_info({:EXIT, pid, reason}, %{replicator: pid} = state) do
    {:stop, {:replicator_down, reason}, %{state | replicator: nil}}
  end

  def handle_info(_msg, state), do: {:noreply, state}

  # --- Pow.Store.Backend.Base ----------------------------------------------------------

  @doc """
  Stores one `{key, value}` or a list of them (atomically: all or none) with the config's
  `:ttl`. Overwriting a key restarts its lifetime. Visible to every reader when it returns,
  whatever the config's `:writes` (`:sync` or `:async`, see the module doc).
  """
  @spec put(config(), record() | [record()]) :: :ok
  def put(config, record_or_records) do
    ttl = ttl!(config)
    namespace = namespace!(config)
    writes!(config)

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
  # The single write path: the store, then the replicator.
  @spec write(config(), binary(), [record()], pos_integer() | :infinity) :: :ok
  def write(config, namespace, [{key, value}], ttl) do
    store = store!(config)
    key = Key.encode(key)
    value = :erlang.term_to_binary(value)

    case replication(config) do
      nil ->
        store |> TTLKV.put(namespace, key, value, ttl) |> ok!(:put)

      to ->
        # The put and the record it sends in one NIF call.
        store |> TTLKV.put_record(namespace, key, value, ttl) |> push(to, :put)
    end
  end

  def write(config, namespace, records, ttl) do
    encoded =
      Enum.map(records, fn
        {key, value} ->
          {Key.encode(key), :erlang.term_to_binary(value)}

        other ->
          raise ArgumentError, "expected a {key, value} record, got: #{inspect(other)}"
      end)

    store = store!(config)

    store
    |> TTLKV.put_many(namespace, encoded, ttl)
    |> ok!(:put)

    replicate(config, store, namespace, Enum.map(encoded, &elem(&1, 0)))
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

  @doc "Removes a key. Always `:ok`; gone for every reader when it returns (as `put/2`)."
  @spec delete(config(), key()) :: :ok
  def delete(config, key) do
    namespace = namespace!(config)
    writes!(config)

    store = store!(config)
    key = Key.encode(key)

    case replication(config) do
      nil ->
        case TTLKV.delete(store, namespace, key) do
          :ok -> :ok
          :not_found -> :ok
          {:error, reason} -> fail!(reason, :delete)
        end

      to ->
        store |> TTLKV.delete_record(namespace, key) |> push(to, :delete)
    end
  end

  @doc """
  Every live `{key, value}` of the namespace whose key matches `key_match`, in key order,
  keys without the namespace. `key_match` is a match-spec head over the key as Pow sees it,
  matched exactly as Pow's MnesiaCache and EtsCache match it: against
  `[namespace | List.wrap(key)]` with the head `[namespace | List.wrap(key_match)]`. So `:_`
  is `[namespace, :_]`: every key of **one segment** (a binary `b`, which is `[b]`, or a
  one-element list), and no list key of more segments: `["user", 1]` is not in
  `all(config, :_)`, as Pow's own tests assert; it comes back with `["user", :_]`,
  `["user" | :_]`, `[:_, :_]`, ...

  When the match's leading segments are bound and its length fixed (Pow's
  `[struct, :user, id, :session, :_]` and `[struct, :user, :_]`), only the keys starting with
  those segments' encoding are read, with `TTLKV.scan/5` (`TTLKV.PowCache.Key.match_prefix/1`
  says when); otherwise every entry of the namespace is decoded and matched.
  """
  @spec all(config(), key_match()) :: [record()]
  def all(config, key_match) do
    namespace = namespace!(config)
    store = store!(config)

    # {raw key, value}: decoded terms from the range scans ({raw key} for a value this VM
    # cannot decode safely), binaries from a read of the whole namespace.
    {entries, decoded?} =
      case Key.match_prefix(key_match) do
        {:ok, prefix} ->
          {scan_prefix(store, namespace, prefix, nil, []), true}

        :none when key_match in [:_, [:_]] ->
          {one_segment_entries(store, namespace), true}

        :none ->
          case TTLKV.entries(store, namespace) do
            {:ok, entries} -> {entries, false}
            {:error, reason} -> fail!(reason, :all)
          end
      end

    if decoded? and key_match in [:_, [:_]] and Enum.all?(entries, &plain_key?/1) do
      # Only raw binary keys (Pow's session ids): each is its own key, and byte order is
      # their term order.
      Enum.flat_map(entries, fn
        {raw, term} ->
          [{raw, term}]

        {raw} ->
          :not_found = undecodable(namespace, raw)
          []
      end)
    else
      match_entries(entries, decoded?, key_match, namespace)
    end
  end

  defp plain_key?(entry) do
    case elem(entry, 0) do
      <<0, _::binary>> -> false
      "" -> false
      _ -> true
    end
  end

  defp match_entries(entries, decoded?, key_match, namespace) do
    entries
    |> Enum.flat_map(fn entry ->
      raw = elem(entry, 0)

      case Key.decode(raw) do
        # A list key naming an atom this node has never seen (a replica's, say) cannot be
        # decoded safely: it is not listed, rather than listed as the raw bytes it is.
        <<0, 1, _::binary>> = undecoded when undecoded == raw -> []
        key -> [{Key.list_form(key), entry}]
      end
    end)
    |> match(key_match)
    |> in_key_order(entries)
    |> Enum.flat_map(fn {list_form, entry} ->
      key = Key.unwrap(list_form)

      case value_of(entry, decoded?, namespace, key) do
        :not_found -> []
        value -> [{key, value}]
      end
    end)
  end

  defp value_of({_raw, term}, true, _namespace, _key), do: term
  defp value_of({_raw}, true, namespace, key), do: undecodable(namespace, key)
  defp value_of({_raw, bin}, false, namespace, key), do: decode_value(bin, namespace, key)

  # Every live entry whose key starts with `prefix`, in key order: one snapshot, unless more
  # than a page (TTLKV_MAX_KEYS_PER_CALL) match, as no Pow match does.
  defp scan_prefix(store, namespace, prefix, after_key, pages) do
    limit = TTLKV.max_keys_per_call()

    case TTLKV.scan_terms(store, namespace, prefix, after_key, limit) do
      {:ok, page} when length(page) == limit ->
        last = page |> List.last() |> elem(0)
        scan_prefix(store, namespace, prefix, last, [page | pages])

      {:ok, page} ->
        Enum.concat(Enum.reverse([page | pages]))

      {:error, reason} ->
        fail!(reason, :all)
    end
  end

  # What `all(config, :_)` can match, in byte order, without reading the list keys of more
  # than one segment (Pow's `[struct, :user, id]` and session keys, most of a namespace): they
  # all start with the escape, the list tag and an external term format header other than a
  # one-element list's, so the ranges around them are read instead: the keys before the list
  # tag, the one-element lists (LIST_EXT or STRING_EXT of length 1), and everything after.
  @one_element_lists [<<0, 1, 131, 107, 0, 1>>, <<0, 1, 131, 108, 0, 0, 0, 1>>]
  defp one_segment_entries(store, namespace) do
    below =
      for key <- ["", <<0>>], {:ok, bin} <- [TTLKV.get(store, namespace, key)] do
        try do
          {key, :erlang.binary_to_term(bin, [:safe])}
        rescue
          ArgumentError -> {key}
        end
      end

    below ++
      scan_prefix(store, namespace, <<0, 0>>, nil, []) ++
      Enum.flat_map(@one_element_lists, &scan_prefix(store, namespace, &1, nil, [])) ++
      scan_prefix(store, namespace, "", <<0, 1, 255>>, [])
  end

  # The library lists keys in byte order, which for raw binary keys already is Erlang term
  # order. Only escaped and list keys (first byte 0x00, so listed first, after the empty key
  # if there is one) need a sort.
  defp in_key_order(pairs, [first | rest]) do
    case {elem(first, 0), rest} do
      {<<0, _::binary>>, _} -> sort_pairs(pairs)
      {"", [second | _]} when binary_part(elem(second, 0), 0, 1) == <<0>> -> sort_pairs(pairs)
      _ -> pairs
    end
  end

  defp in_key_order(pairs, []), do: pairs

  # By list form only (the entries beside them are not comparable in a useful way). The byte
  # order of list keys often already is their term order (one user's keys, ids of one integer
  # encoding): one pass finds out, and only a list out of order is sorted.
  defp sort_pairs(pairs) do
    if sorted?(pairs), do: pairs, else: Enum.sort_by(pairs, &elem(&1, 0))
  end

  defp sorted?([{a, _} | [{b, _} | _] = rest]) when a <= b, do: sorted?(rest)
  defp sorted?([_, _ | _]), do: false
  defp sorted?(_), do: true

  # Pow's match: the stored key is [namespace | List.wrap(key)] and the head
  # [namespace | List.wrap(key_match)]; the namespace is already fixed here, so the list form
  # (List.wrap(key)) is matched against List.wrap(key_match). :_ is [:_]: one segment only.
  defp match(pairs, key_match) when key_match in [:_, [:_]] do
    # The one-segment keys, what [:_] matches, without running a match spec over them.
    Enum.filter(pairs, &match?({[_], _}, &1))
  end

  defp match(pairs, key_match) do
    spec = :ets.match_spec_compile([{{List.wrap(key_match), :_}, [], [:"$_"]}])
    :ets.match_spec_run(pairs, spec)
  end

  # --- deprecated (Pow v1.0.1's API) -----------------------------------------------------

  # The wording is Pow's own (MnesiaCache and EtsCache, 1.0.14 and later), so a warning reads
  # "TTLKV.PowCache.put/3 is deprecated. Use `put/2` instead".

  @doc "Deprecated (Pow v1.0.1 to v1.0.13): `put(config, {key, value})`."
  @deprecated "Use `put/2` instead"
  @spec put(config(), key(), any()) :: :ok
  def put(config, key, value), do: put(config, {key, value})

  @doc """
  Deprecated (Pow v1.0.1 to v1.0.13): every live key of the namespace, without the
  namespace, in key order (list keys too, whatever their number of segments).

  This is the contract of the Pow versions that call it. Pow 1.0.1 to 1.0.13 call
  `keys/1` through `Pow.Store.Base.keys/2`, from `Pow.Store.CredentialsCache.user_session_keys/3`,
  which filters the result with `String.starts_with?/2`: it expects plain binary keys (those
  versions only write binary keys). Pow 1.0.14 and later never call `keys/1` on a backend
  that exports `all/2`, as this one does: `Pow.Store.Base` falls back to `keys/1` only for a
  backend without `all/2`, and its own deprecated `keys/2` merely forwards. (Pow's own
  MnesiaCache and EtsCache `keys/1` of those versions return `all(config, :_)`, `{key, value}`
  pairs, which no Pow code reads; code calling `keys/1` itself gets keys here.)
  """
  @deprecated "Use `all/2` instead"
  @spec keys(config()) :: [key()]
  def keys(config) do
    case TTLKV.keys(store!(config), namespace!(config)) do
      {:ok, raw} ->
        raw
        |> Enum.map(&Key.list_form(Key.decode(&1)))
        |> keys_in_order(raw)
        |> Enum.map(&Key.unwrap/1)

      {:error, reason} ->
        fail!(reason, :keys)
    end
  end

  # As in_key_order/2, for keys alone.
  defp keys_in_order(list_forms, [<<0, _::binary>> | _]), do: Enum.sort(list_forms)
  defp keys_in_order(list_forms, ["", <<0, _::binary>> | _]), do: Enum.sort(list_forms)
  defp keys_in_order(list_forms, _raw), do: list_forms

  # --- helpers ---------------------------------------------------------------------------

  defp decode_value(bin, namespace, key) do
    :erlang.binary_to_term(bin, [:safe])
  rescue
    ArgumentError -> undecodable(namespace, key)
  end

  # A term naming atoms this VM does not know (or bytes another program wrote): a miss, not a
  # crash, and never a new atom.
  defp undecodable(namespace, key) do
    Logger.warning(
      "#{inspect(__MODULE__)}: the value of #{inspect(key)} in #{inspect(namespace)} " <>
        "is not a term this VM can safely decode; treated as not found"
    )

    :not_found
  end

  defp name(config), do: Keyword.get(config, :name, __MODULE__)

  defp store!(config) do
    name = name(config)

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

  # Pow 1.0.25+'s per-call `writes: :sync | :async`: both are served synchronously (stronger).
  defp writes!(config) do
    case Keyword.get(config, :writes, :sync) do
      writes when writes in [:sync, :async] ->
        writes

      other ->
        raise_config_error(
          "`:writes` must be :sync or :async for #{inspect(__MODULE__)}, got: #{inspect(other)}"
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
