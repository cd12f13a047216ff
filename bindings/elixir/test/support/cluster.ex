defmodule TTLKV.TestCluster do
  @moduledoc false
  # Peer nodes on loopback for the replication tests (OTP's :peer; no network beyond
  # 127.0.0.1). Each peer is another OS process running this project's code, connected to the
  # test node; peers connect to each other only as PowCache's `nodes:` / `extra_db_nodes:` or
  # a test tells them, and never reconnect by themselves after a disconnect
  # (`dist_auto_connect once`), so a test can split and heal the cluster.

  alias TTLKV.PowCache

  @doc "Makes this VM a distributed node on 127.0.0.1 (starting epmd when needed)."
  def start_distribution! do
    unless Node.alive?() do
      epmd = System.find_executable("epmd") || Path.join(:code.root_dir(), "bin/epmd")
      {_, 0} = System.cmd(epmd, ["-daemon"])
      name = :"ttlkv_test_#{System.unique_integer([:positive])}@127.0.0.1"
      {:ok, _} = :net_kernel.start([name, :longnames])
    end

    :ok
  end

  @doc "Starts a peer node named `name` (an atom, no host) and returns `{peer, node}`."
  def start_peer(name) do
    args =
      Enum.flat_map(:code.get_path(), &[~c"-pa", &1]) ++
        [
          ~c"-setcookie",
          Atom.to_charlist(:erlang.get_cookie()),
          ~c"-connect_all",
          ~c"false",
          ~c"-kernel",
          ~c"dist_auto_connect",
          ~c"once"
        ]

    {:ok, peer, node} =
      :peer.start_link(%{
        name: :"#{name}_#{System.unique_integer([:positive])}",
        host: ~c"127.0.0.1",
        longnames: true,
        args: args,
        wait_boot: 30_000
      })

    {:ok, _} = :erpc.call(node, Application, :ensure_all_started, [:logger])
    :ok = :erpc.call(node, Logger, :configure, [[level: :error]])
    {:ok, _} = :erpc.call(node, Application, :ensure_all_started, [:ttlkv])
    {peer, node}
  end

  @doc "Starts a PowCache with `opts` on `node` under a supervisor that outlives the call."
  def start_cache(node, opts), do: :erpc.call(node, __MODULE__, :start_cache_here, [opts], 60_000)

  @doc false
  def start_cache_here(opts) do
    case Supervisor.start_link([{PowCache, opts}], strategy: :one_for_one) do
      {:ok, sup} ->
        Process.unlink(sup)
        :persistent_term.put({__MODULE__, Keyword.get(opts, :name, PowCache)}, sup)
        :ok

      other ->
        other
    end
  end

  @doc "Stops the PowCache of `name` on `node` (the way its supervisor stops it)."
  def stop_cache(node, name \\ PowCache), do: :erpc.call(node, __MODULE__, :stop_cache_here, [name])

  @doc false
  def stop_cache_here(name) do
    sup = :persistent_term.get({__MODULE__, name})
    :persistent_term.erase({__MODULE__, name})
    # Not an exit signal: a supervisor takes one only from its parent (gone with the rpc).
    Supervisor.stop(sup)
  end

  def put(node, config, record), do: :erpc.call(node, PowCache, :put, [config, record])
  def get(node, config, key), do: :erpc.call(node, PowCache, :get, [config, key])
  def delete(node, config, key), do: :erpc.call(node, PowCache, :delete, [config, key])
  def all(node, config, match), do: :erpc.call(node, PowCache, :all, [config, match])

  @doc "Puts `n` records of 1 KiB on `node`, 2,000 a call."
  def flood(node, config, n), do: :erpc.call(node, __MODULE__, :flood_here, [config, n], 120_000)

  @doc false
  def flood_here(config, n) do
    value = :binary.copy("x", 1024)

    1..n
    |> Enum.map(&{"f#{&1}", value})
    |> Enum.chunk_every(2_000)
    |> Enum.each(&(:ok = PowCache.put(config, &1)))
  end

  @doc "The live entries of `namespace` in the PowCache store on `node`."
  def count(node, namespace), do: :erpc.call(node, __MODULE__, :count_here, [namespace])

  @doc false
  def count_here(namespace) do
    {:ok, n} = TTLKV.count(PowCache.store(), namespace)
    n
  end

  @doc "The counters of the replicator of the PowCache on `node` (`TTLKV.Replicator.stats/1`)."
  def replicator_stats(node), do: :erpc.call(node, __MODULE__, :replicator_stats_here, [])

  @doc false
  def replicator_stats_here do
    {pid, _mode, _timeout} = :persistent_term.get({PowCache, PowCache, :replication})
    TTLKV.Replicator.stats(pid)
  end

  @doc "The store's digest on `node`, for comparing whole stores."
  def digest(node, name \\ PowCache) do
    :erpc.call(node, __MODULE__, :digest_here, [name])
  end

  @doc false
  def digest_here(name) do
    {:ok, d} = TTLKV.digest(PowCache.store(name), 1024, System.os_time(:millisecond) + 1_000)
    d
  end

  def disconnect(a, b), do: true = :erpc.call(a, Node, :disconnect, [b])
  def connect(a, b), do: true = :erpc.call(a, Node, :connect, [b])

  @doc "Polls `fun` every 10 ms until it returns true or `ms` pass; returns the last result."
  def eventually(ms, fun) do
    deadline = System.monotonic_time(:millisecond) + ms
    do_eventually(deadline, fun)
  end

  defp do_eventually(deadline, fun) do
    cond do
      fun.() ->
        true

      System.monotonic_time(:millisecond) >= deadline ->
        false

      true ->
        Process.sleep(10)
        do_eventually(deadline, fun)
    end
  end
end
