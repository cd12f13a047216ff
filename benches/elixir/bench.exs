# TTLKV.PowCache vs a Mnesia disc_copies table used the way Pow 1.0.39's MnesiaCache uses it
# vs ETS. Not a test: it prints figures (and whether each target of issue #5 was met).
#
#   make bench-elixir       (or: cd bindings/elixir && MIX_ENV=prod mix run ../../benches/elixir/bench.exs)
#
# Env: BENCH_N (default 100000 keys), BENCH_PROCS (default 64 processes for "many"),
#      BENCH_DIR (default a fresh temp dir), BENCH_EXPIRY_WAIT_S (default 20: how long to wait
#      for Mnesia's timers to remove the mass-expired keys), BENCH_ALL_ONLY (set: run only the
#      all/2 section, which measures TTLKV.PowCache.all/2 with bound leading segments).

defmodule Bench do
  def n, do: String.to_integer(System.get_env("BENCH_N", "100000"))
  def procs, do: String.to_integer(System.get_env("BENCH_PROCS", "64"))

  def rate(count, us), do: round(count / (us / 1_000_000))

  def fmt_rate(r) when r >= 1_000_000, do: "#{Float.round(r / 1_000_000, 2)} M/s"
  def fmt_rate(r) when r >= 1_000, do: "#{Float.round(r / 1_000, 1)} k/s"
  def fmt_rate(r), do: "#{r} /s"

  # Runs fun over items from one process; returns ops/s.
  def one(items, fun) do
    :erlang.garbage_collect()
    {us, _} = :timer.tc(fn -> Enum.each(items, fun) end)
    rate(length(items), us)
  end

  # Splits items over procs() processes started together; returns ops/s.
  def many(items, fun) do
    chunks = Enum.chunk_every(items, max(div(length(items), procs()), 1))
    parent = self()

    pids =
      for chunk <- chunks do
        spawn_link(fn ->
          receive do
            :go -> :ok
          end

          Enum.each(chunk, fun)
          send(parent, {:done, self()})
        end)
      end

    {us, _} =
      :timer.tc(fn ->
        Enum.each(pids, &send(&1, :go))
        for pid <- pids, do: (receive do {:done, ^pid} -> :ok end)
      end)

    rate(length(items), us)
  end

  # Per-call latency of fun over keys from one process: {p50, p99, p99.9, max} in µs.
  def latency(keys, fun) do
    lat =
      for k <- keys do
        t0 = System.monotonic_time(:nanosecond)
        fun.(k)
        System.monotonic_time(:nanosecond) - t0
      end

    sorted = lat |> Enum.sort() |> List.to_tuple()
    size = tuple_size(sorted)
    at = fn p -> elem(sorted, min(size - 1, div(size * p, 1000))) / 1000 end
    {at.(500), at.(990), at.(999), elem(sorted, size - 1) / 1000}
  end

  def drop_page_cache do
    case System.cmd("sh", ["-c", "sync && echo 3 > /proc/sys/vm/drop_caches"], stderr_to_stdout: true) do
      {_, 0} -> true
      _ -> false
    end
  end

  def row(cols), do: IO.puts("| " <> Enum.join(cols, " | ") <> " |")

  def ms(us), do: "#{Float.round(us / 1000, 1)} ms"

  # A duration in µs, or in ms from 10 ms on.
  def duration(us) when us < 10_000, do: "#{us} µs"
  def duration(us), do: ms(us)

  def wait_until(fun, timeout_ms) do
    deadline = System.monotonic_time(:millisecond) + timeout_ms

    Stream.repeatedly(fn -> fun.() end)
    |> Enum.find(fn ok ->
      ok or System.monotonic_time(:millisecond) > deadline or (Process.sleep(5) && false)
    end)
  end
end

defmodule MnesiaPow do
  # The parts of Pow 1.0.39's MnesiaCache that matter for speed, on a plain OTP Mnesia
  # disc_copies ordered_set: puts and deletes are GenServer calls (writes: :sync) doing
  # :mnesia.sync_transaction; gets are :mnesia.dirty_read in the caller; expiry is one
  # Process.send_after timer per key; start folds over the table and arms a timer per key.
  use GenServer
  @tab __MODULE__

  def start_link(_), do: GenServer.start_link(__MODULE__, [], name: __MODULE__)

  def put(config, {key, value}), do: GenServer.call(__MODULE__, {:cache, config, [{key, value}]}, :infinity)
  def put(config, records), do: GenServer.call(__MODULE__, {:cache, config, records}, :infinity)

  def get(config, key) do
    mkey = [config[:namespace] | List.wrap(key)]

    case :mnesia.dirty_read({@tab, mkey}) do
      [{@tab, ^mkey, {value, _expire}} | _] -> value
      [] -> :not_found
    end
  end

  @impl true
  def init(_) do
    {:ok, %{invalidators: init_invalidators()}}
  end

  @impl true
  def handle_call({:cache, config, records}, _from, state) do
    ttl = config[:ttl]
    expire = now() + ttl
    ns = config[:namespace]

    {:atomic, _} =
      :mnesia.sync_transaction(fn ->
        Enum.each(records, fn {key, value} ->
          :mnesia.write({@tab, [ns | List.wrap(key)], {value, expire}})
        end)
      end)

    invalidators =
      Enum.reduce(records, state.invalidators, fn {key, _}, acc ->
        append_invalidator([ns | List.wrap(key)], acc, ttl)
      end)

    {:reply, :ok, %{state | invalidators: invalidators}}
  end

  @impl true
  def handle_info({:invalidate, mkey}, state) do
    invalidators =
      case :mnesia.dirty_read({@tab, mkey}) do
        [] ->
          Map.delete(state.invalidators, mkey)

        [{@tab, ^mkey, {_value, expire}}] ->
          case max(expire - now(), 0) do
            0 ->
              {:atomic, _} = :mnesia.sync_transaction(fn -> :mnesia.delete({@tab, mkey}) end)
              Map.delete(state.invalidators, mkey)

            ttl ->
              append_invalidator(mkey, state.invalidators, ttl)
          end
      end

    {:noreply, %{state | invalidators: invalidators}}
  end

  defp append_invalidator(mkey, invalidators, ttl) do
    case Map.get(invalidators, mkey) do
      nil -> :ok
      ref -> Process.cancel_timer(ref)
    end

    Map.put(invalidators, mkey, Process.send_after(self(), {:invalidate, mkey}, ttl))
  end

  defp init_invalidators do
    {:atomic, invalidators} =
      :mnesia.sync_transaction(fn ->
        :mnesia.foldl(
          fn {@tab, mkey, {_value, expire}}, acc ->
            append_invalidator(mkey, acc, max(expire - now(), 0))
          end,
          %{},
          @tab
        )
      end)

    invalidators
  end

  defp now, do: :os.system_time(:millisecond)

  # Mnesia itself: schema on disc, the table as MnesiaCache creates it.
  def setup(dir) do
    File.mkdir_p!(dir)
    Application.put_env(:mnesia, :dir, String.to_charlist(dir))
    :ok = :mnesia.create_schema([node()])
    :ok = :mnesia.start()

    {:atomic, :ok} =
      :mnesia.create_table(@tab, type: :ordered_set, disc_copies: [node()])

    :ok = :mnesia.wait_for_tables([@tab], 15_000)
  end

  def size, do: :mnesia.table_info(@tab, :size)
end

n = Bench.n()
base = System.get_env("BENCH_DIR") || Path.join(System.tmp_dir!(), "ttlkv-bench-#{System.os_time(:millisecond)}")
File.mkdir_p!(base)

if function_exported?(Mix, :ensure_application!, 1), do: apply(Mix, :ensure_application!, [:mnesia])
# Mnesia warns "overloaded" under this load; that is part of what is measured, not news.
Logger.configure(level: :error)

IO.puts("# ttlkv Elixir benchmark: #{n} distinct 32-byte keys, 256-byte values, " <>
  "#{System.schedulers_online()} schedulers, 'many' = #{Bench.procs()} processes")
IO.puts("# #{TTLKV.version()}; Erlang/OTP #{System.otp_release()}, Elixir #{System.version()}; dir #{base}\n")

keys = for i <- 1..n, do: Base.encode16(:crypto.hash(:md5, <<i::64>>))
value = :crypto.strong_rand_bytes(256)
shuffled = Enum.shuffle(keys)
hour = :timer.hours(1)
config = [namespace: "bench", ttl: hour]

# --- TTLKV.PowCache.all/2 with bound leading segments ----------------------------------
# Pow's CredentialsCache lists one user's sessions with [struct, :user, id, :session, :_] and
# the users with [struct, :user, :_]. n keys of its three shapes (a session id, the user key,
# the session key), of which the 10 sessions of user 0 match the first pattern.
all_dir = Path.join(base, "powcache-all")
{:ok, pc} = TTLKV.PowCache.start_link(path: all_dir, durability: :periodic)
struct = MyApp.Users.User
others = div(max(n - 10, 3), 3)

all_records =
  for(i <- 1..10, do: {[struct, :user, 0, :session, "own-session-#{i}"], i}) ++
    for id <- 1..others,
        sid = "session-#{Base.encode16(:crypto.hash(:md5, <<id::64>>))}",
        record <- [{sid, {[struct, :user, id], []}}, {[struct, :user, id], %{id: id}}, {[struct, :user, id, :session, sid], id}],
        do: record

all_records |> Enum.chunk_every(10_000) |> Enum.each(&(:ok = TTLKV.PowCache.put(config, &1)))
all_n = length(all_records)

# The median time of `fun` over `runs` calls in a row from this process, after one garbage
# collection (a call in a new process pays for the heap the previous one leaves to free).
median_us = fn runs, fun ->
  :erlang.garbage_collect()
  times = for _ <- 1..runs, do: elem(:timer.tc(fun), 0)
  Enum.at(Enum.sort(times), div(runs, 2))
end

# all/2 as it was before it scanned prefixes, measured beside it: every entry of the
# namespace decoded, matched and sorted (what all/2 still does when no prefix applies).
decode_all = fn match ->
  {:ok, entries} = TTLKV.entries(TTLKV.PowCache.store(), config[:namespace])
  spec = :ets.match_spec_compile([{{List.wrap(match), :_}, [], [:"$_"]}])

  entries
  |> Enum.map(fn {raw, bin} -> {TTLKV.PowCache.Key.list_form(TTLKV.PowCache.Key.decode(raw)), bin} end)
  |> :ets.match_spec_run(spec)
  |> Enum.sort()
  |> Enum.map(fn {lf, bin} -> {TTLKV.PowCache.Key.unwrap(lf), :erlang.binary_to_term(bin, [:safe])} end)
end

all_rows =
  for {match, label, runs} <- [
        {[struct, :user, 0, :session, :_], "`[struct, :user, 0, :session, :_]` (one user's sessions)", 21},
        {[struct, :user, :_], "`[struct, :user, :_]` (every user)", 11},
        {[struct | :_], "`[struct \\| :_]` (open tail: no byte prefix, so both decode)", 11},
        {:_, "`:_` (every key of one segment: the session ids)", 11}
      ] do
    found = TTLKV.PowCache.all(config, match)
    # The same answer both ways, or the figures mean nothing.
    ^found = decode_all.(match)
    scan_us = median_us.(runs, fn -> TTLKV.PowCache.all(config, match) end)
    decode_us = median_us.(runs, fn -> decode_all.(match) end)
    {label, length(found), scan_us, decode_us}
  end

10 = all_rows |> hd() |> elem(1)
GenServer.stop(pc)

IO.puts("## TTLKV.PowCache.all/2 over #{all_n} stored keys (median)\n")
Bench.row(["match", "matches", "all/2", "decoding the namespace (all/2 before prefix scans)", "speed-up"])
Bench.row(["---", "---", "---", "---", "---"])

for {label, count, scan_us, decode_us} <- all_rows do
  Bench.row([label, "#{count}", Bench.duration(scan_us), Bench.duration(decode_us), "#{Float.round(decode_us / max(scan_us, 1), 1)}×"])
end

IO.puts("")

if System.get_env("BENCH_ALL_ONLY") do
  unless System.get_env("BENCH_DIR"), do: File.rm_rf!(base)
  System.halt(0)
end

# --- TTLKV.PowCache --------------------------------------------------------------------
pc_dir = Path.join(base, "powcache-periodic")
{:ok, pc} = TTLKV.PowCache.start_link(path: pc_dir, durability: :periodic)
pc_put_1 = Bench.one(keys, &TTLKV.PowCache.put(config, {&1, value}))
pc_put_m = Bench.many(shuffled, &TTLKV.PowCache.put(config, {&1, value}))
pc_get_1 = Bench.one(shuffled, &TTLKV.PowCache.get(config, &1))
pc_get_m = Bench.many(shuffled, &TTLKV.PowCache.get(config, &1))
{all_us, all} = :timer.tc(fn -> TTLKV.PowCache.all(config, :_) end)

# Read latency of the two NIF read paths (the scheduler decision), warm, then cold.
store = TTLKV.PowCache.store()
ekeys = Enum.map(shuffled, &TTLKV.PowCache.Key.encode/1)
lat_normal = Bench.latency(ekeys, &TTLKV.NIF.get(store.ref, "bench", &1))
lat_dirty = Bench.latency(ekeys, &TTLKV.NIF.get_dirty(store.ref, "bench", &1))
GenServer.stop(pc)
dropped = Bench.drop_page_cache()
{:ok, pc} = TTLKV.PowCache.start_link(path: pc_dir, durability: :periodic)
store = TTLKV.PowCache.store()
lat_cold = if dropped, do: Bench.latency(Enum.shuffle(ekeys), &TTLKV.NIF.get(store.ref, "bench", &1))
^n = length(all)
pc_del_1 = Bench.one(Enum.take(shuffled, div(n, 2)), &TTLKV.PowCache.delete(config, &1))
GenServer.stop(pc)

# sync durability: every put is on disk when it returns; fewer keys from one process.
sync_dir = Path.join(base, "powcache-sync")
{:ok, pc} = TTLKV.PowCache.start_link(path: sync_dir, durability: :sync)
sync_n = min(n, 2_000)
pc_sync_1 = Bench.one(Enum.take(keys, sync_n), &TTLKV.PowCache.put(config, {&1, value}))
pc_sync_m = Bench.many(shuffled, &TTLKV.PowCache.put(config, {&1, value}))
GenServer.stop(pc)

# periodic with the writable map (write_map: true): faster commits, see TTLKV.open/2.
wm_dir = Path.join(base, "powcache-write-map")
{:ok, pc} = TTLKV.PowCache.start_link(path: wm_dir, durability: :periodic, write_map: true)
pc_wm_1 = Bench.one(keys, &TTLKV.PowCache.put(config, {&1, value}))
pc_wm_m = Bench.many(shuffled, &TTLKV.PowCache.put(config, {&1, value}))
GenServer.stop(pc)

# --- Mnesia, the Pow way ---------------------------------------------------------------
mnesia_dir = Path.join(base, "mnesia")
MnesiaPow.setup(mnesia_dir)
{:ok, mp} = MnesiaPow.start_link([])

# all/2 the way Pow's MnesiaCache answers it: a dirty_select of [namespace | List.wrap(match)]
# on the ordered_set (which walks only the bound prefix's range), over the same records.
all_expire = :os.system_time(:millisecond) + :timer.hours(1)
for {key, value} <- all_records,
    do: :ok = :mnesia.dirty_write({MnesiaPow, ["pow:all" | List.wrap(key)], {value, all_expire}})

mnesia_all = fn match ->
  MnesiaPow
  |> :mnesia.dirty_select([{{MnesiaPow, ["pow:all" | List.wrap(match)], :_}, [], [:"$_"]}])
  |> Enum.map(fn {_, [_ns | key], {value, _}} -> {TTLKV.PowCache.Key.unwrap(key), value} end)
end


mnesia_all_rows =
  for {{label, count, scan_us, _}, match} <-
        Enum.zip(all_rows, [[struct, :user, 0, :session, :_], [struct, :user, :_], [struct | :_], :_]) do
    ^count = length(mnesia_all.(match))
    {label, count, scan_us, median_us.(11, fn -> mnesia_all.(match) end)}
  end

IO.puts("## TTLKV.PowCache.all/2 against Mnesia (Pow's all/2: dirty_select), #{all_n} stored keys (median)\n")
Bench.row(["match", "matches", "TTLKV.PowCache", "Mnesia (Pow's way)", "Mnesia / PowCache"])
Bench.row(["---", "---", "---", "---", "---"])

for {label, count, scan_us, mnesia_us} <- mnesia_all_rows do
  Bench.row([label, "#{count}", Bench.duration(scan_us), Bench.duration(mnesia_us), "#{Float.round(mnesia_us / max(scan_us, 1), 2)}×"])
end

IO.puts("")
mn_put_1 = Bench.one(keys, &MnesiaPow.put(config, {&1, value}))
mn_put_m = Bench.many(shuffled, &MnesiaPow.put(config, {&1, value}))
mn_get_1 = Bench.one(shuffled, &MnesiaPow.get(config, &1))
mn_get_m = Bench.many(shuffled, &MnesiaPow.get(config, &1))

# --- ETS ------------------------------------------------------------------------------
ets = :ets.new(:bench, [:set, :public, read_concurrency: true, write_concurrency: true])
ets_put_1 = Bench.one(keys, &:ets.insert(ets, {&1, value, 0}))
ets_put_m = Bench.many(shuffled, &:ets.insert(ets, {&1, value, 0}))
ets_get_1 = Bench.one(shuffled, &:ets.lookup(ets, &1))
ets_get_m = Bench.many(shuffled, &:ets.lookup(ets, &1))

IO.puts("## Throughput (operations per second)\n")
Bench.row(["operation", "TTLKV.PowCache", "Mnesia (Pow 1.0.39 way)", "ETS", "PowCache / Mnesia"])
Bench.row(["---", "---", "---", "---", "---"])
ratio = fn a, b -> "#{Float.round(a / b, 2)}×" end
Bench.row(["put, 1 process (periodic)", Bench.fmt_rate(pc_put_1), Bench.fmt_rate(mn_put_1), Bench.fmt_rate(ets_put_1), ratio.(pc_put_1, mn_put_1)])
Bench.row(["put, many processes (periodic)", Bench.fmt_rate(pc_put_m), Bench.fmt_rate(mn_put_m), Bench.fmt_rate(ets_put_m), ratio.(pc_put_m, mn_put_m)])
Bench.row(["put, 1 process (periodic, write_map)", Bench.fmt_rate(pc_wm_1), "-", "-", ratio.(pc_wm_1, mn_put_1)])
Bench.row(["put, many processes (periodic, write_map)", Bench.fmt_rate(pc_wm_m), "-", "-", ratio.(pc_wm_m, mn_put_m)])
Bench.row(["put, 1 process (sync: fsync per put)", Bench.fmt_rate(pc_sync_1), "-", "-", ratio.(pc_sync_1, mn_put_1)])
Bench.row(["put, many processes (sync, group commit)", Bench.fmt_rate(pc_sync_m), "-", "-", ratio.(pc_sync_m, mn_put_m)])
Bench.row(["get, 1 process", Bench.fmt_rate(pc_get_1), Bench.fmt_rate(mn_get_1), Bench.fmt_rate(ets_get_1), ratio.(pc_get_1, mn_get_1)])
Bench.row(["get, many processes", Bench.fmt_rate(pc_get_m), Bench.fmt_rate(mn_get_m), Bench.fmt_rate(ets_get_m), ratio.(pc_get_m, mn_get_m)])
Bench.row(["delete, 1 process (periodic)", Bench.fmt_rate(pc_del_1), "-", "-", "-"])
Bench.row(["all(config, :_) over #{n} keys", Bench.ms(all_us), "-", "-", "-"])

IO.puts("\n## Read latency from one process, µs (value 256 + 6 bytes)\n")
Bench.row(["read path", "p50", "p99", "p99.9", "max"])
Bench.row(["---", "---", "---", "---", "---"])
lrow = fn name, {a, b, c, d} -> Bench.row([name, "#{a}", "#{b}", "#{c}", "#{d}"]) end
lrow.("get on the normal scheduler (default), warm", lat_normal)
lrow.("get on a dirty I/O scheduler, warm", lat_dirty)
if lat_cold, do: lrow.("get on the normal scheduler, page cache dropped first", lat_cold),
  else: IO.puts("(cold page cache not measured: dropping it needs root and a writable /proc/sys/vm)")

# --- start with n stored keys ------------------------------------------------------------
GenServer.stop(mp)
:stopped = :mnesia.stop()
{mn_start_us, _} =
  :timer.tc(fn ->
    :ok = :mnesia.start()
    :ok = :mnesia.wait_for_tables([MnesiaPow], 60_000)
    {:ok, _} = MnesiaPow.start_link([])
  end)

mn_start_mem = Process.info(Process.whereis(MnesiaPow), :memory) |> elem(1)

{pc_start_us, {:ok, pc}} = :timer.tc(fn -> TTLKV.PowCache.start_link(path: pc_dir, durability: :periodic) end)
pc_start_mem = Process.info(pc, :memory) |> elem(1)
# The store really has its keys (half were deleted above).
"bench" = config[:namespace]
true = TTLKV.PowCache.get(config, List.last(shuffled)) == value

IO.puts("\n## Start with #{n} stored keys\n")
Bench.row(["", "TTLKV.PowCache", "Mnesia (Pow 1.0.39 way)", "speed-up"])
Bench.row(["---", "---", "---", "---"])
Bench.row(["time to start", Bench.ms(pc_start_us), Bench.ms(mn_start_us), "#{round(mn_start_us / max(pc_start_us, 1))}×"])
Bench.row(["owner process memory", "#{div(pc_start_mem, 1024)} KiB", "#{div(mn_start_mem, 1024)} KiB", ""])
GenServer.stop(pc)
GenServer.stop(Process.whereis(MnesiaPow))

# --- mass expiry ------------------------------------------------------------------------
# n keys written with one TTL, so they expire together. ttlkv: the expiry thread removes them
# from the deadline index; purge_expired at deadline + 1 s counts what it had not removed yet.
exp_dir = Path.join(base, "powcache-expiry")
{:ok, pc} = TTLKV.PowCache.start_link(path: exp_dir, durability: :periodic)
exp_ttl = 3_000
keys |> Enum.chunk_every(10_000) |> Enum.each(&TTLKV.PowCache.put(Keyword.put(config, :ttl, exp_ttl), Enum.map(&1, fn k -> {k, value} end)))
store = TTLKV.PowCache.store()
{:ok, deadline} = TTLKV.deadline(store, "bench", List.last(keys))
Bench.wait_until(fn -> System.os_time(:millisecond) >= deadline end, 60_000)
readable_at_deadline = Enum.count(Enum.take(shuffled, 10_000), &(TTLKV.PowCache.get(config, &1) != :not_found))
Bench.wait_until(fn -> System.os_time(:millisecond) >= deadline + 1_000 end, 60_000)
{:ok, left_after_1s} = TTLKV.purge_expired(store)
GenServer.stop(pc)

# The same through purge_expired alone (how fast the core removes 100k expired entries).
purge_dir = Path.join(base, "powcache-purge")
{:ok, ps} = TTLKV.open(purge_dir, durability: :periodic, map_size: 512 * 1024 * 1024)
keys |> Enum.chunk_every(10_000) |> Enum.each(&(:ok = TTLKV.put_many(ps, "bench", Enum.map(&1, fn k -> {k, value} end), 1_000)))
{:ok, purge_deadline} = TTLKV.deadline(ps, "bench", List.last(keys))
# Close and reopen after the deadline: at open the expiry thread finds them all past due.
:ok = TTLKV.close(ps)
Bench.wait_until(fn -> System.os_time(:millisecond) > purge_deadline + 5 end, 60_000)
{reopen_us, {:ok, ps}} = :timer.tc(fn -> TTLKV.open(purge_dir) end)
t0 = System.monotonic_time(:millisecond)
{:ok, removed_by_purge} = TTLKV.purge_expired(ps)
purge_ms = System.monotonic_time(:millisecond) - t0
:ok = TTLKV.close(ps)

# Mnesia: n per-key timers; count what is still stored (and readable) after the deadline.
{:ok, mp} = MnesiaPow.start_link([])
{:atomic, :ok} = :mnesia.clear_table(MnesiaPow)
GenServer.stop(mp)
{:ok, mp} = MnesiaPow.start_link([])
keys |> Enum.chunk_every(1_000) |> Enum.each(&MnesiaPow.put(Keyword.put(config, :ttl, exp_ttl), Enum.map(&1, fn k -> {k, value} end)))
mn_deadline = System.os_time(:millisecond) + exp_ttl
Bench.wait_until(fn -> System.os_time(:millisecond) >= mn_deadline + 1_000 end, 60_000)
mn_readable_1s = Enum.count(Enum.take(shuffled, 10_000), &(MnesiaPow.get(config, &1) != :not_found))
mn_left_1s = MnesiaPow.size()
wait_s = String.to_integer(System.get_env("BENCH_EXPIRY_WAIT_S", "20"))
Bench.wait_until(fn -> MnesiaPow.size() == 0 end, wait_s * 1_000)
mn_left_end = MnesiaPow.size()
mn_done_ms = System.os_time(:millisecond) - mn_deadline

IO.puts("\n## #{n} keys expiring together\n")
Bench.row(["", "TTLKV.PowCache", "Mnesia (Pow 1.0.39 way)"])
Bench.row(["---", "---", "---"])
Bench.row(["readable at/after the deadline (of 10,000 sampled)", "#{readable_at_deadline} at the deadline", "#{mn_readable_1s} at deadline + 1 s"])
Bench.row(["still stored at deadline + 1 s", "#{left_after_1s}", "#{mn_left_1s}"])

mn_done =
  if mn_left_end == 0,
    do: "all removed #{Float.round(mn_done_ms / 1000, 1)} s after the deadline",
    else: "#{mn_left_end} still stored #{Float.round(mn_done_ms / 1000, 1)} s after the deadline"

Bench.row(["removal", if(left_after_1s == 0, do: "all removed within 1 s", else: "#{left_after_1s} left at 1 s"), mn_done])
Bench.row(["purge_expired of #{removed_by_purge} past-due entries after reopen (open: #{Bench.ms(reopen_us)})", "#{purge_ms} ms", "-"])
GenServer.stop(mp)
:mnesia.stop()

IO.puts("\n## Targets\n")
check = fn name, ok -> IO.puts("- #{if ok, do: "met    ", else: "NOT met"} #{name}") end
check.("get >= 1x Mnesia dirty_read (1 process: #{ratio.(pc_get_1, mn_get_1)}, many: #{ratio.(pc_get_m, mn_get_m)})", pc_get_1 >= mn_get_1 and pc_get_m >= mn_get_m)
check.("put (periodic) >= 3x Mnesia sync_transaction (1 process: #{ratio.(pc_put_1, mn_put_1)}, many: #{ratio.(pc_put_m, mn_put_m)})", pc_put_1 >= 3 * mn_put_1 and pc_put_m >= 3 * mn_put_m)
check.("#{n} keys expiring together removed within 1 s of the deadline", left_after_1s == 0)
check.("start with #{n} keys >= 20x faster than Mnesia (#{round(mn_start_us / max(pc_start_us, 1))}×)", mn_start_us >= 20 * pc_start_us)

unless System.get_env("BENCH_DIR"), do: File.rm_rf!(base)
