defmodule TTLKV.PowCacheClusterTest do
  # Replication between PowCache instances on peer nodes: other OS processes on loopback,
  # connected by Erlang distribution, split and healed by the tests.
  use ExUnit.Case, async: false

  import TTLKV.TestHelpers, only: [tmp_dir: 1]
  import TTLKV.TestCluster

  alias TTLKV.PowCache

  @moduletag timeout: 600_000
  @config [namespace: "pow:test", ttl: :timer.hours(1)]
  # How long the stores of a healed cluster may take to agree.
  @settle_ms 10_000

  setup_all do
    start_distribution!()
    :ok
  end

  defp opts(dir, extra), do: Keyword.merge([path: dir, anti_entropy_interval: 500], extra)

  defp dir(context, n), do: tmp_dir("#{context.test}_#{n}")

  defp three_nodes(context, extra \\ fn _ -> [] end) do
    [{_, a}, {_, b}, {_, c}] = for n <- [:a, :b, :c], do: start_peer(n)
    :ok = start_cache(a, opts(dir(context, :a), extra.(a)))
    :ok = start_cache(b, opts(dir(context, :b), [extra_db_nodes: [a]] ++ extra.(b)))
    :ok = start_cache(c, opts(dir(context, :c), [extra_db_nodes: [a, b]] ++ extra.(c)))
    {a, b, c}
  end

  defp same_stores?(nodes) do
    nodes |> Enum.map(&digest/1) |> Enum.uniq() |> length() == 1
  end

  test "a put on one node is readable on the others when it returns; a delete ends it everywhere",
       context do
    {a, b, c} = three_nodes(context)
    assert put(a, @config, {"session", %{user: 1}}) == :ok
    assert get(b, @config, "session") == %{user: 1}
    assert get(c, @config, "session") == %{user: 1}

    assert delete(b, @config, "session") == :ok
    assert get(a, @config, "session") == :not_found
    assert get(c, @config, "session") == :not_found

    # A list of records, list keys, and all/2 agreeing on every node.
    :ok = put(c, @config, [{["user_1", "session", "s1"], 1}, {["user_1", "session", "s2"], 2}])

    for i <- 1..20, do: :ok = put(Enum.at([a, b, c], rem(i, 3)), @config, {"k#{i}", i})
    expected = for i <- 1..20, do: {"k#{i}", i}

    for n <- [a, b, c] do
      assert Enum.sort(all(n, @config, :_)) == Enum.sort(expected)
      assert length(all(n, @config, ["user_1", "session", :_])) == 2
    end

    assert same_stores?([a, b, c])

    # Pow's per-call `writes: :async`: replicated without the caller waiting.
    :ok = put(a, Keyword.put(@config, :writes, :async), {"async_call", 1})
    assert eventually(@settle_ms, fn -> get(c, @config, "async_call") == 1 end)
  end

  test "replicate: :async returns at once and the peers catch up", context do
    {a, b, c} = three_nodes(context, fn _ -> [replicate: :async] end)
    for i <- 1..500, do: :ok = put(a, @config, {"k#{i}", i})
    assert eventually(@settle_ms, fn -> get(c, @config, "k500") == 500 end)
    assert eventually(@settle_ms, fn -> length(all(b, @config, :_)) == 500 end)
  end

  test "async pushes that meet a busy distribution port are retried, never dropped", context do
    # Anti-entropy only every 10 minutes: what arrives came by push.
    extra = fn _ -> [replicate: :async, anti_entropy_interval: 600_000] end
    {a, b, c} = three_nodes(context, extra)
    # 40,000 records of 1 KiB to each peer: far past the port's 1 MB busy limit.
    :ok = flood(a, @config, 40_000)
    flooded = System.monotonic_time(:millisecond)
    # The busy path was taken: without that this test would prove nothing about retries.
    assert replicator_stats(a).busy > 0

    # Retried at once, not left to a timer that stalls: every record arrives within seconds of
    # the flood (well under one here; with a retry every 250 ms instead of 2, about 9 s).
    for n <- [b, c] do
      assert eventually(30_000, fn -> count(n, "pow:test") == 40_000 end)
    end

    took = System.monotonic_time(:millisecond) - flooded
    assert took < 5_000, "the backlog drained #{took} ms after the flood"
  end

  test "late join: a node that ran alone and took writes merges into the cluster; nothing is wiped",
       context do
    [{_, a}, {_, b}, {_, c}] = for n <- [:a, :b, :c], do: start_peer(n)
    :ok = start_cache(a, opts(dir(context, :a), []))
    :ok = start_cache(b, opts(dir(context, :b), extra_db_nodes: [a]))
    :ok = start_cache(c, opts(dir(context, :c), []))

    for i <- 1..50, do: :ok = put(a, @config, {"ab#{i}", i})
    for i <- 1..50, do: :ok = put(c, @config, {"c#{i}", i})
    # The same key on both sides: the later write wins everywhere.
    :ok = put(a, @config, {"both", "from_a"})
    Process.sleep(5)
    :ok = put(c, @config, {"both", "from_c"})
    assert get(c, @config, "ab1") == :not_found

    connect(c, a)
    assert eventually(@settle_ms, fn -> same_stores?([a, b, c]) end)

    for n <- [a, b, c] do
      keys = n |> all(@config, :_) |> Enum.map(&elem(&1, 0))
      expected = ["both" | for(i <- 1..50, p <- ["ab", "c"], do: "#{p}#{i}")]
      assert {n, expected -- keys, keys -- expected} == {n, [], []}
      assert get(n, @config, "ab7") == 7 and get(n, @config, "c7") == 7
      assert get(n, @config, "both") == "from_c"
    end
  end

  test "rolling restart: each node replaced by one with a new name and an empty directory loses no session",
       context do
    {a, b, c} = three_nodes(context)
    for i <- 1..300, do: :ok = put(Enum.at([a, b, c], rem(i, 3)), @config, {"s#{i}", i})

    live =
      [a, b, c]
      |> Enum.with_index()
      |> Enum.reduce([a, b, c], fn {old, round}, live ->
        others = live -- [old]
        {_, new} = start_peer(:new)
        # sync_on_start: when the start returns, the new node holds every session.
        :ok = start_cache(new, opts(tmp_dir("#{context.test}_new"), extra_db_nodes: others))
        assert length(all(new, @config, :_)) == 300 + round
        :ok = stop_cache(old)
        :ok = put(new, @config, {"after_#{old}", true})
        others ++ [new]
      end)

    assert eventually(@settle_ms, fn -> same_stores?(live) end)

    for n <- live do
      assert length(all(n, @config, :_)) == 303
      assert get(n, @config, "s123") == 123
    end
  end

  test "a node stopped and started again under its name catches up and expires on its own",
       context do
    # Pow's own "will join cluster" scenario.
    [{_, a}, {_, b}] = for n <- [:a, :b], do: start_peer(n)
    dir_a = dir(context, :a)
    :ok = start_cache(a, opts(dir_a, []))
    :ok = put(a, @config, {"key_set_on_a", "value"})
    # extra_db_nodes as Pow also takes it: {module, function, arguments} giving the list.
    :ok = start_cache(b, opts(dir(context, :b), extra_db_nodes: {List, :wrap, [a]}))
    assert get(b, @config, "key_set_on_a") == "value"
    :ok = put(b, @config, {"key_set_on_b", "value"})
    assert get(a, @config, "key_set_on_b") == "value"

    short = Keyword.put(@config, :ttl, 300)
    :ok = put(a, short, {"short_ttl_key_set_on_a", "value"})
    :ok = stop_cache(a)
    assert get(b, short, "short_ttl_key_set_on_a") == "value"
    assert eventually(2_000, fn -> get(b, short, "short_ttl_key_set_on_a") == :not_found end)

    :ok = put(b, Keyword.put(@config, :ttl, 3_000), {"short_ttl_key_2_set_on_b", "value"})
    :ok = start_cache(a, opts(dir_a, extra_db_nodes: [b]))
    assert get(a, @config, "short_ttl_key_2_set_on_b") == "value"
    :ok = stop_cache(b)
    assert eventually(5_000, fn -> get(a, @config, "short_ttl_key_2_set_on_b") == :not_found end)
  end

  test "a delete never loses to an older write, whatever the clock skew", context do
    offsets = %{0 => 600_000, 1 => -600_000, 2 => 0}
    [{_, a}, {_, b}, {_, c}] = for n <- [:a, :b, :c], do: start_peer(n)

    for {n, i, nodes} <- [{a, 0, []}, {b, 1, [a]}, {c, 2, [a, b]}] do
      :ok =
        start_cache(
          n,
          opts(dir(context, i), extra_db_nodes: nodes, clock_offset_ms: offsets[i])
        )
    end

    # Written on the node ten minutes ahead, deleted on the one ten minutes behind.
    :ok = put(a, @config, {"s", 1})
    assert get(b, @config, "s") == 1
    :ok = delete(b, @config, "s")
    for n <- [a, b, c], do: assert(get(n, @config, "s") == :not_found)

    # And again across a split: the delete was made after the write had reached it.
    :ok = put(a, @config, {"t", 1})
    disconnect(a, b)
    disconnect(a, c)
    :ok = delete(b, @config, "t")
    :ok = put(a, @config, {"other", 1})
    connect(a, b)
    connect(a, c)
    assert eventually(@settle_ms, fn -> same_stores?([a, b, c]) end)
    for n <- [a, b, c], do: assert(get(n, @config, "t") == :not_found)
  end

  test "writes by another OS process into a node's store reach the peers through anti-entropy",
       context do
    [{_, a}, {_, b}] = for n <- [:a, :b], do: start_peer(n)
    dir_a = dir(context, :a)
    :ok = start_cache(a, opts(dir_a, []))
    :ok = start_cache(b, opts(dir(context, :b), extra_db_nodes: [a]))

    # This test VM is another OS process: it opens node a's directory and writes there.
    {:ok, store} = TTLKV.open(dir_a)
    key = PowCache.Key.encode("from_outside")
    :ok = TTLKV.put(store, "pow:test", key, :erlang.term_to_binary("hello"), 60_000)
    :not_found = TTLKV.delete(store, "pow:test", PowCache.Key.encode("never_there"))
    TTLKV.close(store)

    # Within one anti-entropy interval (500 ms here; 10 s by default), plus the exchange.
    assert eventually(3_000, fn -> get(b, @config, "from_outside") == "hello" end)
  end

  test "a sync put waits a bounded time for a peer that cannot answer", context do
    [{_, a}, {peer_b, b}] = for n <- [:a, :b], do: start_peer(n)
    :ok = start_cache(a, opts(dir(context, :a), replicate_timeout: 300))
    :ok = start_cache(b, opts(dir(context, :b), extra_db_nodes: [a]))
    # b's replicator stops answering (suspended), its node stays connected.
    repl = :erpc.call(b, :persistent_term, :get, [{PowCache, PowCache, :replication}]) |> elem(0)
    :ok = :erpc.call(b, :sys, :suspend, [repl])
    {us, :ok} = :timer.tc(fn -> put(a, @config, {"k", 1}) end)
    assert us >= 250_000 and us < 5_000_000
    :ok = :erpc.call(b, :sys, :resume, [repl])
    assert eventually(@settle_ms, fn -> get(b, @config, "k") == 1 end)
    _ = peer_b
  end

  describe "netsplits" do
    @schedules String.to_integer(System.get_env("TTLKV_NETSPLIT_SCHEDULES", "50"))

    test "#{@schedules} seeded random schedules of splits, writes and deletes converge to the model",
         context do
      {a, b, c} = three_nodes(context)
      nodes = [a, b, c]

      for seed <- 1..@schedules do
        :rand.seed(:exsss, {seed, 12, 7})
        config = Keyword.put(@config, :namespace, "split#{seed}")
        run_schedule(nodes, config, seed)
      end
    end
  end

  # One schedule: steps of puts (other TTLs), overwrites and deletes on random nodes, splits
  # (one node cut off from the other two) and heals. The model: each key's last operation;
  # a key changed on one side of a split only is what that side made it (no lost write, no
  # resurrected delete); a key changed on both sides holds one side's outcome.
  defp run_schedule(nodes, config, seed) do
    model = %{}
    state = %{split: nil, during: %{}}

    {model, state} =
      Enum.reduce(1..25, {model, state}, fn _, {model, state} ->
        node = Enum.random(nodes)
        key = "k#{:rand.uniform(8)}"

        case :rand.uniform(10) do
          n when n <= 4 ->
            ttl = :timer.minutes(30 + :rand.uniform(60))
            :ok = put(node, Keyword.put(config, :ttl, ttl), {key, {seed, n}})
            note(model, state, node, key, {seed, n})

          n when n <= 7 ->
            :ok = delete(node, config, key)
            note(model, state, node, key, :not_found)

          8 when state.split == nil ->
            cut = Enum.random(nodes)
            for other <- nodes -- [cut], do: disconnect(cut, other)
            wait_membership(nodes, cut)
            {model, %{state | split: cut}}

          _ when state.split != nil ->
            heal(nodes, config, model, state)

          _ ->
            {model, state}
        end
      end)

    {model, _} = if state.split, do: heal(nodes, config, model, state), else: {model, state}

    assert eventually(@settle_ms, fn -> same_stores?(nodes) end),
           "schedule #{seed}: the stores differ #{@settle_ms} ms after the last heal"

    for {key, expected} <- model, n <- nodes do
      assert get(n, config, key) == expected,
             "schedule #{seed}: #{key} on #{n} is #{inspect(get(n, config, key))}, " <>
               "the model says #{inspect(expected)}"
    end
  end

  defp note(model, %{split: nil} = state, _node, key, value),
    do: {Map.put(model, key, value), state}

  defp note(model, state, node, key, value) do
    side = if node == state.split, do: :cut, else: :rest
    during = Map.update(state.during, key, %{side => value}, &Map.put(&1, side, value))
    {model, %{state | during: during}}
  end

  defp heal(nodes, config, model, state) do
    cut = state.split
    for other <- nodes -- [cut], do: connect(cut, other)

    assert eventually(@settle_ms, fn -> same_stores?(nodes) end),
           "the stores differ #{@settle_ms} ms after a heal"

    model =
      Enum.reduce(state.during, model, fn {key, sides}, model ->
        now = get(hd(nodes), config, key)

        case Map.values(sides) do
          [only] ->
            assert now == only,
                   "#{key} changed on one side only: #{inspect(only)}, got #{inspect(now)}"

          both ->
            assert now in both
        end

        Map.put(model, key, now)
      end)

    {model, %{state | split: nil, during: %{}}}
  end

  # Until every node's replicator sees the split (its peers no longer across it).
  defp wait_membership(nodes, cut) do
    assert eventually(5_000, fn ->
             Enum.all?(nodes, fn n ->
               peers = :erpc.call(n, TTLKV.Replicator, :peers, [replicator(n)])
               across = if n == cut, do: nodes -- [cut], else: [cut]
               not Enum.any?(peers, &(node(&1) in across))
             end)
           end)
  end

  defp replicator(n) do
    :erpc.call(n, :persistent_term, :get, [{PowCache, PowCache, :replication}]) |> elem(0)
  end
end
