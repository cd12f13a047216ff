# Replication benchmark (make bench-elixir): TTLKV.PowCache on three :peer nodes on loopback
# (other OS processes on this machine), against Mnesia replicated to the same three nodes in
# the same run (a disc_copies table written with sync_transaction, the core of Pow's
# MnesiaCache put). BENCH_REPL_N (default 100000) is the number of sessions.
#
#   1. a sync put on node a, end to end: it returns once b and c applied it (median / p99 of
#      one process's puts), at 20,000 and at BENCH_REPL_N stored sessions (flat in the size?);
#   2. async replication throughput per peer: BENCH_REPL_N puts on a, until c holds them all;
#   3. anti-entropy: c cut off while a takes BENCH_REPL_N writes, then healed: until c agrees;
#   4. the start of a node joining the cluster holding BENCH_REPL_N sessions (sync_on_start).

n = String.to_integer(System.get_env("BENCH_REPL_N", "100000"))
samples = 2_000

epmd = System.find_executable("epmd") || Path.join(:code.root_dir(), "bin/epmd")
{_, 0} = System.cmd(epmd, ["-daemon"])
{:ok, _} = :net_kernel.start([:"ttlkv_bench_#{System.os_time()}@127.0.0.1", :longnames])
base = Path.join(System.tmp_dir!(), "ttlkv-repl-bench-#{System.os_time()}")
File.mkdir_p!(base)
File.chmod!(base, 0o700)

# The code the peers run, compiled here and loaded there.
[{helper, helper_bin}] =
  Code.compile_string("""
  defmodule TTLKVBenchPeer do
    def start_cache(opts) do
      spec = Supervisor.child_spec({TTLKV.PowCache, opts}, id: Keyword.get(opts, :name, TTLKV.PowCache))
      {:ok, sup} = Supervisor.start_link([spec], strategy: :one_for_one)
      Process.unlink(sup)
      :ok
    end

    # Latencies (µs, sorted) of `count` sync puts from one process, keys prefix<i>.
    def put_latencies(config, prefix, count) do
      value = :binary.copy("v", 256)
      for i <- 1..count do
        {us, :ok} = :timer.tc(fn -> TTLKV.PowCache.put(config, {prefix <> Integer.to_string(i), value}) end)
        us
      end
      |> Enum.sort()
    end

    # Fills the store through PowCache in batches of 1,000 (replicated as the config says).
    def fill(config, prefix, count) do
      value = :binary.copy("v", 256)
      1..count
      |> Stream.map(&{prefix <> Integer.to_string(&1), value})
      |> Stream.chunk_every(1_000)
      |> Enum.each(&(:ok = TTLKV.PowCache.put(config, &1)))
    end

    # `count` puts from 16 processes, 100 records a call (async replication); returns µs.
    def async_puts(config, prefix, count) do
      value = :binary.copy("v", 256)
      per = div(count, 16)
      {us, _} = :timer.tc(fn ->
        1..16
        |> Enum.map(fn p -> Task.async(fn ->
          1..per
          |> Enum.map(&{prefix <> "\#{p}_\#{&1}", value})
          |> Enum.chunk_every(100)
          |> Enum.each(&(:ok = TTLKV.PowCache.put(config, &1)))
        end) end)
        |> Enum.each(&Task.await(&1, :infinity))
      end)
      us
    end

    # The floor under a replicated put: a message to a process on each of `nodes` and its
    # answer, both at once (µs, sorted).
    def echo_latencies(nodes, count) do
      echoes = for n <- nodes, do: Node.spawn(n, __MODULE__, :echo, [])
      for _ <- 1..count do
        {us, _} = :timer.tc(fn ->
          for e <- echoes, do: send(e, {self(), :ping})
          for _ <- echoes, do: (receive do: (:pong -> :ok))
        end)
        us
      end
      |> Enum.sort()
    end

    def echo do
      receive do
        {from, :ping} -> send(from, :pong)
      end
      echo()
    end

    def count(config) do
      {:ok, n} = TTLKV.count(TTLKV.PowCache.store(Keyword.get(config, :name, TTLKV.PowCache)), config[:namespace])
      n
    end

    def digest do
      {:ok, d} = TTLKV.digest(TTLKV.PowCache.store(), 1024, System.os_time(:millisecond) + 1_000)
      d
    end

    # Mnesia replicated to `nodes`: a disc_copies ordered_set written with sync_transaction.
    def mnesia_latencies(prefix, count) do
      value = :binary.copy("v", 256)
      for i <- 1..count do
        key = ["pow:bench", prefix <> Integer.to_string(i)]
        {us, {:atomic, :ok}} = :timer.tc(fn ->
          :mnesia.sync_transaction(fn -> :mnesia.write({:bench, key, {value, 0}}) end)
        end)
        us
      end
      |> Enum.sort()
    end

    def mnesia_fill(prefix, count) do
      value = :binary.copy("v", 256)
      1..count
      |> Stream.chunk_every(1_000)
      |> Enum.each(fn chunk ->
        {:atomic, :ok} = :mnesia.sync_transaction(fn ->
          Enum.each(chunk, &:mnesia.write({:bench, ["pow:bench", prefix <> Integer.to_string(&1)], {value, 0}}))
        end)
      end)
    end
  end
  """)
  |> Enum.filter(fn {mod, _} -> mod == TTLKVBenchPeer end)

peer_args =
  Enum.flat_map(:code.get_path(), &[~c"-pa", &1]) ++
    [~c"-setcookie", Atom.to_charlist(:erlang.get_cookie()), ~c"-connect_all", ~c"false",
     ~c"-kernel", ~c"dist_auto_connect", ~c"once"]

start_peer = fn name ->
  {:ok, _peer, node} =
    :peer.start_link(%{name: name, host: ~c"127.0.0.1", longnames: true, args: peer_args, wait_boot: 60_000})

  {:module, _} = :erpc.call(node, :code, :load_binary, [helper, ~c"ttlkv_bench_peer.ex", helper_bin])
  {:ok, _} = :erpc.call(node, Application, :ensure_all_started, [:logger])
  :ok = :erpc.call(node, Logger, :configure, [[level: :error]])
  {:ok, _} = :erpc.call(node, Application, :ensure_all_started, [:ttlkv])
  node
end

call = fn node, fun, args -> :erpc.call(node, helper, fun, args, :infinity) end
median = fn sorted -> Enum.at(sorted, div(length(sorted), 2)) end
p99 = fn sorted -> Enum.at(sorted, div(length(sorted) * 99, 100)) end
config = [namespace: "pow:bench", ttl: :timer.hours(1)]
async_config = Keyword.put(config, :writes, :async)

wait = fn fun, timeout_ms ->
  t0 = System.monotonic_time(:microsecond)
  deadline = t0 + timeout_ms * 1000

  Stream.repeatedly(fn -> fun.() end)
  |> Enum.find(fn ok -> ok or (Process.sleep(5) && System.monotonic_time(:microsecond) > deadline) end)

  System.monotonic_time(:microsecond) - t0
end

IO.puts("# ttlkv replication benchmark: 3 :peer nodes on loopback, #{n} sessions, 256-byte values")
IO.puts("# #{TTLKV.version()}; Erlang/OTP #{System.otp_release()}, Elixir #{System.version()}\n")

[a, b, c] = for x <- [:ra, :rb, :rc], do: start_peer.(:"#{x}_#{System.os_time()}")
# The cluster's stores flush periodically (every 100 ms): replicas on other machines are
# a replicated cache's durability. A second instance (`name: :durable`) flushes every write.
opts = fn node, nodes, name, durability ->
  [path: Path.join(base, "#{name}_#{node}"), name: name, extra_db_nodes: nodes, durability: durability] ++
    if(durability == :periodic, do: [sync_interval: 100], else: [])
end

for {name, durability} <- [{TTLKV.PowCache, :periodic}, {:durable, :sync}] do
  :ok = call.(a, :start_cache, [opts.(a, [], name, durability)])
  :ok = call.(b, :start_cache, [opts.(b, [a], name, durability)])
  :ok = call.(c, :start_cache, [opts.(c, [a, b], name, durability)])
end

# 1. sync put latency at 20k and at n stored sessions.
durable = Keyword.put(config, :name, :durable)
call.(a, :fill, [config, "fill", 20_000])
at_20k = call.(a, :put_latencies, [config, "lat20k_", samples])
d_20k = call.(a, :put_latencies, [durable, "lat20k_", samples])
call.(a, :fill, [config, "fill", n])
at_n = call.(a, :put_latencies, [config, "latn_", samples])
echo = call.(a, :echo_latencies, [[b, c], samples])

# The same on Mnesia: a table with disc_copies on the three nodes.
for node <- [a, b, c], do: :ok = :erpc.call(node, Application, :put_env, [:mnesia, :dir, String.to_charlist(Path.join(base, "mnesia_#{node}"))])
:ok = :erpc.call(a, :mnesia, :create_schema, [[a, b, c]])
for node <- [a, b, c], do: :ok = :erpc.call(node, :mnesia, :start, [])
{:atomic, :ok} = :erpc.call(a, :mnesia, :create_table, [:bench, [type: :ordered_set, disc_copies: [a, b, c]]])
:ok = :erpc.call(a, :mnesia, :wait_for_tables, [[:bench], 60_000])
call.(a, :mnesia_fill, ["fill", 20_000])
m_20k = call.(a, :mnesia_latencies, ["lat20k_", samples])
call.(a, :mnesia_fill, ["fill", n])
m_n = call.(a, :mnesia_latencies, ["latn_", samples])
for node <- [a, b, c], do: :erpc.call(node, :mnesia, :stop, [])

IO.puts("## A sync put on node a, replicated to b and c before it returns (µs, one process)\n")
IO.puts("| store | stored sessions | median | p99 |")
IO.puts("|---|---|---|---|")
IO.puts("| TTLKV.PowCache, durability: :periodic | 20,000 | #{median.(at_20k)} | #{p99.(at_20k)} |")
IO.puts("| TTLKV.PowCache, durability: :periodic | #{n} | #{median.(at_n)} | #{p99.(at_n)} |")
IO.puts("| TTLKV.PowCache, durability: :sync (an fsync on each node) | 20,000 | #{median.(d_20k)} | #{p99.(d_20k)} |")
IO.puts("| (floor: a message to b and c and their answers) | | #{median.(echo)} | #{p99.(echo)} |")
IO.puts("| Mnesia sync_transaction, disc_copies on 3 nodes | 20,000 | #{median.(m_20k)} | #{p99.(m_20k)} |")
IO.puts("| Mnesia sync_transaction, disc_copies on 3 nodes | #{n} | #{median.(m_n)} | #{p99.(m_n)} |")
IO.puts("\nratio, median at #{n}: Mnesia / ttlkv (periodic) = #{Float.round(median.(m_n) / median.(at_n), 2)}; " <>
  "Mnesia / ttlkv (sync) at 20,000 = #{Float.round(median.(m_20k) / median.(d_20k), 2)}")

# 2. async replication throughput: n puts on a (16 processes), until c holds them all.
before = call.(c, :count, [config])
t0 = System.monotonic_time(:microsecond)
put_us = call.(a, :async_puts, [async_config, "async_", n])
_ = wait.(fn -> call.(c, :count, [config]) >= before + div(n, 16) * 16 end, 120_000)
async_us = System.monotonic_time(:microsecond) - t0
async_rate = round(div(n, 16) * 16 / (async_us / 1_000_000))
IO.puts("\n## Async replication: #{n} puts on a (16 processes, 100 records a call) until c holds them all\n")
IO.puts("#{async_rate} records/s per peer (#{Float.round(async_us / 1000, 1)} ms; the puts on a took #{Float.round(put_us / 1000, 1)} ms)")

# 3. anti-entropy: c cut off while a takes n writes, then healed.
true = :erpc.call(c, Node, :disconnect, [a])
true = :erpc.call(c, Node, :disconnect, [b])
Process.sleep(200)
call.(a, :fill, [config, "missed_", n])
true = :erpc.call(c, Node, :connect, [a])
true = :erpc.call(c, Node, :connect, [b])
ae_us = wait.(fn -> call.(c, :digest, []) == call.(a, :digest, []) end, 120_000)
IO.puts("\n## Anti-entropy: c missed #{n} writes, then reconnected\n")
IO.puts("caught up in #{Float.round(ae_us / 1000, 1)} ms (digests of the three stores equal)")

# 4. a node joining the cluster that holds everything written so far.
total = call.(a, :count, [config])
d = start_peer.(:"rd_#{System.os_time()}")
{join_us, :ok} = :timer.tc(fn -> call.(d, :start_cache, [opts.(d, [a, b, c], TTLKV.PowCache, :periodic)]) end)
held = call.(d, :count, [config])
IO.puts("\n## A node joining a cluster holding #{total} sessions\n")
IO.puts("start (sync_on_start) #{Float.round(join_us / 1000, 1)} ms; it held #{held} of #{total} when the start returned")

IO.puts("\n## Targets\n")
check = fn name, ok -> IO.puts("- #{if ok, do: "met    ", else: "NOT met"} #{name}") end
check.("sync put median <= 150 µs at #{n} stored (#{median.(at_n)} µs)", median.(at_n) <= 150)
check.("flat in the store size: median at #{n} <= 1.5x median at 20,000", median.(at_n) <= 1.5 * median.(at_20k))
check.("async replication >= 50,000 records/s per peer (#{async_rate})", async_rate >= 50_000)
check.("anti-entropy catches up #{n} missed writes in <= 3 s (#{Float.round(ae_us / 1000, 1)} ms)", ae_us <= 3_000_000)
check.("a joining node holds every session when its start returns", held == total)
File.rm_rf(base)
