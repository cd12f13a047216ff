defmodule TTLKV.CacheOpsTest do
  # The cache operations of README "Cache operations", through TTLKV: results, not found,
  # conflicts, counters, many keys, paging, the size bound, backup, bad input, a closed store,
  # and atomicity across BEAM processes and OS processes.
  # Not async: the size-bound tests read the environment's counters, and OS processes run.
  use ExUnit.Case, async: false

  import Bitwise
  import TTLKV.TestHelpers

  @moduletag timeout: 120_000
  @hour 3_600_000

  setup context do
    dir = tmp_dir(context)
    {:ok, store} = TTLKV.open(dir)
    # Closed before tmp_dir/1 removes the directory (on_exit runs the last registered first).
    on_exit(fn -> TTLKV.close(store) end)
    %{dir: dir, store: store}
  end

  # Puts `key` with a short TTL and waits until its deadline has passed (the entry may or may
  # not have been removed by the expiry thread yet: every assertion must hold either way).
  defp expired!(s, ns, key, value \\ "old") do
    :ok = TTLKV.put(s, ns, key, value, 30)
    {:ok, d} = TTLKV.deadline(s, ns, key)
    wait_until(fn -> System.os_time(:millisecond) > d end)
  end

  describe "touch" do
    test "gives a live entry a new deadline and keeps its value and version", %{store: s} do
      :ok = TTLKV.put(s, "ns", "k", "v", 1_000)
      {:ok, {"v", version}} = TTLKV.get_versioned(s, "ns", "k")
      {:ok, short} = TTLKV.deadline(s, "ns", "k")

      assert TTLKV.touch(s, "ns", "k", @hour) == {:ok, true}
      {:ok, long} = TTLKV.deadline(s, "ns", "k")
      assert long >= short + @hour - 1_000 - 100
      assert TTLKV.get_versioned(s, "ns", "k") == {:ok, {"v", version}}

      assert TTLKV.touch(s, "ns", "k", :infinity) == {:ok, true}
      assert TTLKV.deadline(s, "ns", "k") == {:ok, :infinity}
    end

    test "a missing or expired entry gives {:ok, false} and is not brought back", %{store: s} do
      assert TTLKV.touch(s, "ns", "nobody", @hour) == {:ok, false}
      expired!(s, "ns", "gone")
      assert TTLKV.touch(s, "ns", "gone", @hour) == {:ok, false}
      assert TTLKV.get(s, "ns", "gone") == :not_found
      assert TTLKV.deadline(s, "ns", "gone") == :not_found
    end

    test "a TTL of 0 is an error and changes nothing", %{store: s} do
      :ok = TTLKV.put(s, "ns", "k", "v", :infinity)
      assert {:error, {:ttl_invalid, _}} = TTLKV.touch(s, "ns", "k", 0)
      assert TTLKV.deadline(s, "ns", "k") == {:ok, :infinity}
    end
  end

  describe "add" do
    test "writes only when no live entry has the key", %{store: s} do
      assert TTLKV.add(s, "ns", "k", "first", @hour) == {:ok, true}
      assert TTLKV.add(s, "ns", "k", "second", @hour) == {:ok, false}
      assert TTLKV.get(s, "ns", "k") == {:ok, "first"}
    end

    test "an expired entry not yet removed counts as absent", %{store: s} do
      expired!(s, "ns", "k")
      assert TTLKV.add(s, "ns", "k", "new", @hour) == {:ok, true}
      assert TTLKV.get(s, "ns", "k") == {:ok, "new"}
    end

    test "of 8 processes adding one key, exactly one writes", %{store: s} do
      results =
        1..8
        |> Enum.map(fn i -> Task.async(fn -> TTLKV.add(s, "ns", "slot", "#{i}", @hour) end) end)
        |> Task.await_many(30_000)

      assert Enum.count(results, &(&1 == {:ok, true})) == 1
      assert Enum.count(results, &(&1 == {:ok, false})) == 7
    end
  end

  describe "incr and decr" do
    test "a missing key is :not_found, like get, and nothing is written", %{store: s} do
      assert TTLKV.incr(s, "ns", "c", 1) == :not_found
      assert TTLKV.decr(s, "ns", "c", 1) == :not_found
      assert TTLKV.get(s, "ns", "c") == :not_found
    end

    test "create: makes the counter with delta and that TTL", %{store: s} do
      before = System.os_time(:millisecond)
      assert TTLKV.incr(s, "ns", "c", 5, create: 60_000) == {:ok, 5}
      assert TTLKV.get(s, "ns", "c") == {:ok, "5"}
      {:ok, d} = TTLKV.deadline(s, "ns", "c")
      assert d >= before + 60_000 and d <= System.os_time(:millisecond) + 60_000

      assert TTLKV.decr(s, "ns", "d", 7, create: :infinity) == {:ok, -7}
      assert TTLKV.get(s, "ns", "d") == {:ok, "-7"}
      assert TTLKV.deadline(s, "ns", "d") == {:ok, :infinity}
    end

    test "an existing counter keeps its deadline and gets a new version", %{store: s} do
      {:ok, 1} = TTLKV.incr(s, "ns", "c", 1, create: 60_000)
      {:ok, d} = TTLKV.deadline(s, "ns", "c")
      {:ok, {"1", v1}} = TTLKV.get_versioned(s, "ns", "c")

      assert TTLKV.incr(s, "ns", "c", 10, create: :infinity) == {:ok, 11}
      assert TTLKV.decr(s, "ns", "c", 2) == {:ok, 9}
      assert TTLKV.incr(s, "ns", "c", -4) == {:ok, 5}
      assert TTLKV.deadline(s, "ns", "c") == {:ok, d}
      {:ok, {"5", v2}} = TTLKV.get_versioned(s, "ns", "c")
      assert v2 > v1
    end

    test "a counter written by put (any language) is counted on", %{store: s} do
      :ok = TTLKV.put(s, "ns", "c", "41", @hour)
      assert TTLKV.incr(s, "ns", "c", 1) == {:ok, 42}
      :ok = TTLKV.put(s, "ns", "neg", "-7", @hour)
      assert TTLKV.decr(s, "ns", "neg", 1) == {:ok, -8}
    end

    test "not_a_counter leaves the value, its deadline and its version", %{store: s} do
      for value <- ["abc", "", "1.5", " 1", "99999999999999999999"] do
        :ok = TTLKV.put(s, "ns", "v", value, @hour)
        {:ok, d} = TTLKV.deadline(s, "ns", "v")
        {:ok, {^value, version}} = TTLKV.get_versioned(s, "ns", "v")

        assert {:error, {:not_a_counter, detail}} = TTLKV.incr(s, "ns", "v", 1)
        assert is_binary(detail) and detail != ""
        assert {:error, {:not_a_counter, _}} = TTLKV.decr(s, "ns", "v", 1, create: @hour)
        assert TTLKV.get_versioned(s, "ns", "v") == {:ok, {value, version}}
        assert TTLKV.deadline(s, "ns", "v") == {:ok, d}
      end
    end

    test "a sum outside 64 bits is overflow and leaves the counter", %{store: s} do
      max = 0x7FFFFFFFFFFFFFFF
      min = -0x8000000000000000
      {:ok, ^max} = TTLKV.incr(s, "ns", "hi", max, create: @hour)
      assert {:error, {:overflow, _}} = TTLKV.incr(s, "ns", "hi", 1)
      assert TTLKV.get(s, "ns", "hi") == {:ok, Integer.to_string(max)}

      {:ok, ^min} = TTLKV.incr(s, "ns", "lo", min, create: @hour)
      assert {:error, {:overflow, _}} = TTLKV.decr(s, "ns", "lo", 1)
      assert TTLKV.get(s, "ns", "lo") == {:ok, Integer.to_string(min)}
    end

    test "8 processes incrementing 1,000 times each give exactly 8,000", %{store: s} do
      1..8
      |> Enum.map(fn _ ->
        Task.async(fn ->
          for _ <- 1..1_000, do: {:ok, _} = TTLKV.incr(s, "ns", "hits", 1, create: @hour)
          :ok
        end)
      end)
      |> Task.await_many(100_000)

      assert TTLKV.get(s, "ns", "hits") == {:ok, "8000"}
    end

    test "two OS processes and two BEAM processes incrementing one counter", %{
      dir: dir,
      store: s
    } do
      child = """
      {:ok, s} = TTLKV.open(#{inspect(dir)})
      for _ <- 1..1_000, do: {:ok, _} = TTLKV.incr(s, "ns", "shared", 1, create: :infinity)
      IO.puts("DONE")
      """

      os = for _ <- 1..2, do: Task.async(fn -> run_elixir(child) end)

      beam =
        for _ <- 1..2 do
          Task.async(fn ->
            for _ <- 1..1_000, do: {:ok, _} = TTLKV.incr(s, "ns", "shared", 1, create: :infinity)
          end)
        end

      for {output, status} <- Task.await_many(os, 100_000) do
        assert status == 0 and output =~ "DONE", output
      end

      Task.await_many(beam, 100_000)
      assert TTLKV.get(s, "ns", "shared") == {:ok, "4000"}
    end
  end

  describe "take" do
    test "gives the value once, then :not_found", %{store: s} do
      big = :crypto.strong_rand_bytes(100_000)
      :ok = TTLKV.put(s, "ns", "k", big, @hour)
      assert TTLKV.take(s, "ns", "k") == {:ok, big}
      assert TTLKV.take(s, "ns", "k") == :not_found
      assert TTLKV.get(s, "ns", "k") == :not_found
      assert TTLKV.take(s, "ns", "never") == :not_found
      expired!(s, "ns", "gone")
      assert TTLKV.take(s, "ns", "gone") == :not_found
    end

    test "of 8 processes taking one key, exactly one gets it", %{store: s} do
      :ok = TTLKV.put(s, "ns", "prize", "won", @hour)

      results =
        1..8
        |> Enum.map(fn _ -> Task.async(fn -> TTLKV.take(s, "ns", "prize") end) end)
        |> Task.await_many(30_000)

      assert Enum.count(results, &(&1 == {:ok, "won"})) == 1
      assert Enum.count(results, &(&1 == :not_found)) == 7
    end
  end

  describe "get_versioned and put_if_version" do
    test "a missing key is :not_found; a version is positive", %{store: s} do
      assert TTLKV.get_versioned(s, "ns", "k") == :not_found
      :ok = TTLKV.put(s, "ns", "k", "v", @hour)
      assert {:ok, {"v", version}} = TTLKV.get_versioned(s, "ns", "k")
      assert is_integer(version) and version > 0
    end

    test "compare-and-set writes on the expected version and conflicts otherwise", %{store: s} do
      assert {:ok, v1} = TTLKV.put_if_version(s, "ns", "k", "a", @hour, :absent)
      assert TTLKV.get_versioned(s, "ns", "k") == {:ok, {"a", v1}}
      assert TTLKV.put_if_version(s, "ns", "k", "x", @hour, :absent) == {:error, :conflict}

      assert {:ok, v2} = TTLKV.put_if_version(s, "ns", "k", "b", @hour, v1)
      assert v2 > v1
      assert TTLKV.put_if_version(s, "ns", "k", "stale", @hour, v1) == {:error, :conflict}
      assert TTLKV.get_versioned(s, "ns", "k") == {:ok, {"b", v2}}

      # A version where there is no entry (any more) conflicts too.
      assert TTLKV.put_if_version(s, "ns", "none", "x", @hour, v2) == {:error, :conflict}
      assert TTLKV.get(s, "ns", "none") == :not_found
    end

    test "every write of the value changes the version, touch does not", %{store: s} do
      :ok = TTLKV.put(s, "ns", "k", "1", @hour)
      {:ok, {_, v1}} = TTLKV.get_versioned(s, "ns", "k")
      {:ok, true} = TTLKV.touch(s, "ns", "k", @hour)
      {:ok, {_, ^v1}} = TTLKV.get_versioned(s, "ns", "k")
      {:ok, 2} = TTLKV.incr(s, "ns", "k", 1)
      {:ok, {"2", v2}} = TTLKV.get_versioned(s, "ns", "k")
      :ok = TTLKV.put(s, "ns", "k", "2", @hour)
      {:ok, {"2", v3}} = TTLKV.get_versioned(s, "ns", "k")
      :ok = TTLKV.delete(s, "ns", "k")
      {:ok, true} = TTLKV.add(s, "ns", "k", "again", @hour)
      {:ok, {"again", v4}} = TTLKV.get_versioned(s, "ns", "k")
      # Each write is above the version it replaced; a new entry repeats none of the old ones.
      assert v1 < v2 and v2 < v3
      refute v4 in [v1, v2, v3]
    end

    test "an expired entry is absent for :absent", %{store: s} do
      expired!(s, "ns", "k")
      assert {:ok, _} = TTLKV.put_if_version(s, "ns", "k", "new", @hour, :absent)
      assert TTLKV.get(s, "ns", "k") == {:ok, "new"}
    end
  end

  describe "get_many and delete_many" do
    test "get_many answers in the order asked, nil for missing and expired keys", %{store: s} do
      :ok = TTLKV.put_many(s, "ns", [{"a", "1"}, {"b", "2"}, {"", "empty"}], @hour)
      expired!(s, "ns", "old")

      assert TTLKV.get_many(s, "ns", ["b", "missing", "a", "old", "b", "", ["a"]]) ==
               {:ok, ["2", nil, "1", nil, "2", "empty", "1"]}

      assert TTLKV.get_many(s, "ns", []) == {:ok, []}
      assert TTLKV.get_many(s, "other", ["a"]) == {:ok, [nil]}
    end

    test "delete_many counts the live entries it removed, in one call", %{store: s} do
      :ok = TTLKV.put_many(s, "ns", for(i <- 1..10, do: {"k#{i}", "v"}), @hour)
      expired!(s, "ns", "old")
      assert TTLKV.delete_many(s, "ns", ["k1", "k2", "k2", "missing", "old"]) == {:ok, 2}
      assert TTLKV.get_many(s, "ns", ["k1", "k2", "k3"]) == {:ok, [nil, nil, "v"]}
      assert TTLKV.delete_many(s, "ns", []) == {:ok, 0}
      assert TTLKV.count(s, "ns") == {:ok, 8}
    end

    test "more keys than max_keys_per_call is batch_too_large and removes nothing", %{store: s} do
      max = TTLKV.max_keys_per_call()
      assert is_integer(max) and max > 0
      :ok = TTLKV.put(s, "ns", "k1", "v", @hour)
      keys = for i <- 1..(max + 1), do: "k#{i}"

      assert {:error, {:batch_too_large, detail}} = TTLKV.get_many(s, "ns", keys)
      assert detail =~ Integer.to_string(max)
      assert {:error, {:batch_too_large, _}} = TTLKV.delete_many(s, "ns", keys)
      assert TTLKV.get(s, "ns", "k1") == {:ok, "v"}

      # The limit itself is taken.
      assert {:ok, values} = TTLKV.get_many(s, "ns", Enum.take(keys, max))
      assert length(values) == max
    end

    test "a key that is not a binary raises, naming its index, and removes nothing", %{store: s} do
      :ok = TTLKV.put_many(s, "ns", [{"a", "1"}, {"b", "2"}], @hour)

      for fun <- [:get_many, :delete_many] do
        assert_raise ArgumentError,
                     ~r/#{fun}: the key at index 1 is not a binary or iolist: 7/,
                     fn ->
                       apply(TTLKV, fun, [s, "ns", ["a", 7, "b"]])
                     end

        assert_raise ArgumentError, ~r/index 0 .*:a/, fn -> apply(TTLKV, fun, [s, "ns", [:a]]) end

        assert_raise ArgumentError, ~r/index 2/, fn ->
          apply(TTLKV, fun, [s, "ns", ["a", "b", ["ok", :bad]]])
        end

        assert_raise ArgumentError, ~r/proper list/, fn ->
          apply(TTLKV, fun, [s, "ns", ["a" | "b"]])
        end

        assert_raise ArgumentError, ~r/must be a list/, fn -> apply(TTLKV, fun, [s, "ns", "a"]) end
        # The namespace, not a key, is wrong: the NIF's own ArgumentError.
        assert_raise ArgumentError, fn -> apply(TTLKV, fun, [s, :ns, ["a"]]) end
      end

      assert TTLKV.get_many(s, "ns", ["a", "b"]) == {:ok, ["1", "2"]}
    end

    test "a key too long is the library's error, and nothing is removed", %{store: s} do
      :ok = TTLKV.put(s, "ns", "a", "1", @hour)
      long = :binary.copy("k", 10_000)
      assert {:error, {:key_too_long, _}} = TTLKV.get_many(s, "ns", ["a", long])
      assert {:error, {:key_too_long, _}} = TTLKV.delete_many(s, "ns", ["a", long])
      assert TTLKV.get(s, "ns", "a") == {:ok, "1"}
    end
  end

  describe "clear, count, namespaces" do
    test "clear removes a whole namespace in bounded batches and counts it", %{store: s} do
      for chunk <- Enum.chunk_every(1..25_000, 10_000) do
        :ok = TTLKV.put_many(s, "big", Enum.map(chunk, &{"k#{&1}", "v"}), @hour)
      end

      :ok = TTLKV.put(s, "other", "k", "v", @hour)
      assert TTLKV.count(s, "big") == {:ok, 25_000}
      assert TTLKV.clear(s, "big") == {:ok, 25_000}
      assert TTLKV.count(s, "big") == {:ok, 0}
      assert TTLKV.keys(s, "big") == {:ok, []}
      assert TTLKV.get(s, "other", "k") == {:ok, "v"}
      assert TTLKV.clear(s, "big") == {:ok, 0}
    end

    test "count and namespaces see live entries only", %{store: s} do
      assert TTLKV.namespaces(s) == {:ok, []}
      :ok = TTLKV.put_many(s, "b", [{"1", ""}, {"2", ""}], @hour)
      :ok = TTLKV.put(s, "a", "1", "", @hour)
      :ok = TTLKV.put(s, <<255>>, "1", "", @hour)
      expired!(s, "b", "3")
      expired!(s, "only-expired", "x")

      assert TTLKV.count(s, "b") == {:ok, 2}
      assert TTLKV.count(s, "only-expired") == {:ok, 0}
      assert TTLKV.count(s, "none") == {:ok, 0}
      assert TTLKV.namespaces(s) == {:ok, ["a", "b", <<255>>]}
    end

    test "a bad namespace is the library's error", %{store: s} do
      assert {:error, {:namespace_invalid, _}} = TTLKV.count(s, "")
      assert {:error, {:namespace_invalid, _}} = TTLKV.clear(s, :binary.copy("n", 256))
    end
  end

  describe "scan" do
    test "pages through a prefix with the last key as cursor", %{store: s} do
      keys = for i <- 1..10, do: "user:#{String.pad_leading("#{i}", 2, "0")}"
      :ok = TTLKV.put_many(s, "ns", Enum.map(keys, &{&1, "v" <> &1}), @hour)
      :ok = TTLKV.put_many(s, "ns", [{"user", "x"}, {"usex", "x"}, {"a", "x"}, {"z", "x"}], @hour)
      expired!(s, "ns", "user:05a")

      pages = scan_pages(s, "ns", "user:", 3)
      assert Enum.map(pages, &length/1) == [3, 3, 3, 1]
      assert Enum.concat(pages) == Enum.map(keys, &{&1, "v" <> &1})

      # A page exactly `limit` long is followed by an empty last page.
      assert Enum.map(scan_pages(s, "ns", "user:", 5), &length/1) == [5, 5, 0]
    end

    test "nil is the first page, the empty key a cursor like any other", %{store: s} do
      :ok = TTLKV.put_many(s, "ns", [{"", "empty"}, {"a", "1"}, {"b", "2"}], @hour)

      assert TTLKV.scan(s, "ns", "", nil, 10) == {:ok, [{"", "empty"}, {"a", "1"}, {"b", "2"}]}
      assert TTLKV.scan(s, "ns", "", "", 10) == {:ok, [{"a", "1"}, {"b", "2"}]}
      assert TTLKV.scan(s, "ns", "", [], 10) == {:ok, [{"a", "1"}, {"b", "2"}]}

      assert scan_pages(s, "ns", "", 1) ==
               [[{"", "empty"}], [{"a", "1"}], [{"b", "2"}], []]
    end

    test "a cursor before or past the prefix; iodata prefix and cursor", %{store: s} do
      :ok = TTLKV.put_many(s, "ns", [{"p1", "1"}, {"p2", "2"}, {"q", "3"}], @hour)
      assert TTLKV.scan(s, "ns", "p", "a", 10) == {:ok, [{"p1", "1"}, {"p2", "2"}]}
      assert TTLKV.scan(s, "ns", "p", "p2", 10) == {:ok, []}
      assert TTLKV.scan(s, "ns", "p", "zzz", 10) == {:ok, []}
      assert TTLKV.scan(s, "ns", [?p], ["p", "1"], 10) == {:ok, [{"p2", "2"}]}
      assert TTLKV.scan(s, "none", "", nil, 10) == {:ok, []}
    end

    test "a limit out of range is invalid_argument; wrong types raise", %{store: s} do
      max = TTLKV.max_keys_per_call()
      assert {:error, {:invalid_argument, _}} = TTLKV.scan(s, "ns", "", nil, 0)
      assert {:error, {:invalid_argument, _}} = TTLKV.scan(s, "ns", "", nil, max + 1)
      assert {:ok, []} = TTLKV.scan(s, "ns", "", nil, max)
      assert_raise ArgumentError, fn -> TTLKV.scan(s, "ns", "", nil, -1) end
      assert_raise ArgumentError, fn -> TTLKV.scan(s, "ns", "", nil, 1.0) end
      assert_raise ArgumentError, fn -> TTLKV.scan(s, "ns", :p, nil, 1) end
      assert_raise ArgumentError, fn -> TTLKV.scan(s, "ns", "", :first, 1) end
    end
  end

  defp scan_pages(s, ns, prefix, limit, after_key \\ nil, acc \\ []) do
    {:ok, page} = TTLKV.scan(s, ns, prefix, after_key, limit)

    if length(page) < limit do
      Enum.reverse([page | acc])
    else
      {last, _} = List.last(page)
      scan_pages(s, ns, prefix, limit, last, [page | acc])
    end
  end

  describe "size bound" do
    test "no bound by default; a bound is set, read back and removed", %{store: s} do
      assert TTLKV.max_bytes(s) == {:ok, {nil, :soonest_deadline}}
      assert TTLKV.set_max_bytes(s, 1024 * 1024) == :ok
      assert TTLKV.max_bytes(s) == {:ok, {1024 * 1024, :soonest_deadline}}
      assert TTLKV.set_max_bytes(s, 2 * 1024 * 1024, :none) == :ok
      assert TTLKV.max_bytes(s) == {:ok, {2 * 1024 * 1024, :none}}
      assert TTLKV.set_max_bytes(s, nil) == :ok
      assert TTLKV.max_bytes(s) == {:ok, {nil, :soonest_deadline}}
    end

    test "a bound below 64 KiB is the library's error; wrong values raise", %{store: s} do
      assert {:error, {:invalid_argument, detail}} = TTLKV.set_max_bytes(s, 65_535)
      assert detail =~ "65536"
      assert TTLKV.set_max_bytes(s, 65_536) == :ok
      assert_raise ArgumentError, ~r/nil/, fn -> TTLKV.set_max_bytes(s, 0) end
      assert_raise ArgumentError, fn -> TTLKV.set_max_bytes(s, -1) end
      assert_raise ArgumentError, fn -> TTLKV.set_max_bytes(s, "1M") end
      assert_raise ArgumentError, ~r/eviction/, fn -> TTLKV.set_max_bytes(s, 1 <<< 20, :lru) end
      assert TTLKV.max_bytes(s) == {:ok, {65_536, :soonest_deadline}}
    end

    test "soonest_deadline evicts the soonest deadlines to stay within the bound", %{store: s} do
      bound = 256 * 1024
      value = :binary.copy("v", 1_000)
      :ok = TTLKV.set_max_bytes(s, bound)
      for i <- 1..5, do: :ok = TTLKV.put(s, "ns", "forever-#{i}", "f", :infinity)
      {:ok, %{evicted: evicted_before}} = TTLKV.stats(s)

      for i <- 1..2_000 do
        # Later puts get later deadlines: the earliest ones go first.
        assert TTLKV.put(s, "ns", "k#{i}", value, @hour + i) == :ok
        {:ok, %{tree_bytes: tree}} = TTLKV.stats(s)
        assert tree <= bound + 64 * 1024
      end

      {:ok, %{evicted: evicted}} = TTLKV.stats(s)
      assert evicted > evicted_before
      assert TTLKV.get(s, "ns", "k1") == :not_found
      assert TTLKV.get(s, "ns", "k2000") == {:ok, value}

      assert TTLKV.get_many(s, "ns", for(i <- 1..5, do: "forever-#{i}")) ==
               {:ok, List.duplicate("f", 5)}

      assert TTLKV.verify(s) == {:ok, []}
    end

    test "eviction :none fails the write with full and writes nothing", %{store: s} do
      :ok = TTLKV.set_max_bytes(s, 128 * 1024, :none)
      value = :binary.copy("v", 1_000)
      {:ok, %{evicted: evicted_before}} = TTLKV.stats(s)

      written =
        Enum.reduce_while(1..1_000, [], fn i, acc ->
          case TTLKV.put(s, "ns", "k#{i}", value, @hour) do
            :ok -> {:cont, ["k#{i}" | acc]}
            {:error, {:full, detail}} -> {:halt, {acc, "k#{i}", detail}}
          end
        end)

      assert {[_ | _] = keys, failed, detail} = written
      assert is_binary(detail) and detail != ""
      assert TTLKV.get(s, "ns", failed) == :not_found
      assert {:error, {:full, _}} = TTLKV.add(s, "ns", failed, value, @hour)
      assert {:error, {:full, _}} = TTLKV.put_many(s, "ns", [{failed, value}], @hour)
      assert TTLKV.get(s, "ns", failed) == :not_found
      {:ok, values} = TTLKV.get_many(s, "ns", keys)
      assert Enum.all?(values, &(&1 == value))
      {:ok, %{evicted: ^evicted_before}} = TTLKV.stats(s)

      # Deletes work at the bound, and make room.
      half = Enum.take(keys, div(length(keys), 2))
      assert TTLKV.delete_many(s, "ns", half) == {:ok, length(half)}
      assert TTLKV.put(s, "ns", failed, value, @hour) == :ok
    end
  end

  describe "backup" do
    test "the copy opens as a store with the entries, deadlines and the bound", %{
      dir: dir,
      store: s
    } do
      :ok = TTLKV.put_many(s, "ns", for(i <- 1..2_000, do: {"k#{i}", "v#{i}"}), @hour)
      :ok = TTLKV.put(s, "ns", "forever", "f", :infinity)
      {:ok, deadline} = TTLKV.deadline(s, "ns", "k1")
      :ok = TTLKV.set_max_bytes(s, 64 * 1024 * 1024, :none)
      # Free pages for the compacted copy to leave out.
      {:ok, 1_000} = TTLKV.delete_many(s, "ns", for(i <- 1..1_000, do: "k#{i}"))

      full = dir <> "-full"
      compact = dir <> "-compact"
      on_exit(fn -> Enum.each([full, compact], &File.rm_rf/1) end)
      assert TTLKV.backup(s, full) == :ok
      assert TTLKV.backup(s, compact, compact: true) == :ok
      assert Bitwise.band(File.stat!(full).mode, 0o777) == 0o700

      for copy_dir <- [full, compact] do
        {:ok, copy} = TTLKV.open(copy_dir)
        assert TTLKV.count(copy, "ns") == {:ok, 1_001}
        assert TTLKV.get(copy, "ns", "k2000") == {:ok, "v2000"}
        assert TTLKV.get(copy, "ns", "k1") == :not_found
        {:ok, d1001} = TTLKV.deadline(s, "ns", "k1001")
        assert TTLKV.deadline(copy, "ns", "k1001") == {:ok, d1001}
        assert d1001 >= deadline
        assert TTLKV.deadline(copy, "ns", "forever") == {:ok, :infinity}
        assert TTLKV.max_bytes(copy) == {:ok, {64 * 1024 * 1024, :none}}
        assert TTLKV.verify(copy) == {:ok, []}
        assert TTLKV.close(copy) == :ok
      end

      assert File.stat!(Path.join(compact, "data.mdb")).size <=
               File.stat!(Path.join(full, "data.mdb")).size
    end

    test "a directory that is not empty is refused untouched", %{dir: dir, store: s} do
      dest = mkdir_private!(dir <> "-busy")
      on_exit(fn -> File.rm_rf(dest) end)
      File.write!(Path.join(dest, "keep"), "x")
      assert {:error, {:path_invalid, detail}} = TTLKV.backup(s, dest)
      assert is_binary(detail) and detail != ""
      assert File.ls!(dest) == ["keep"]
    end

    test "bad options and paths raise", %{dir: dir, store: s} do
      dest = dir <> "-bad"
      assert_raise ArgumentError, fn -> TTLKV.backup(s, dest, compact: 1) end
      assert_raise ArgumentError, fn -> TTLKV.backup(s, dest, compress: true) end
      assert_raise ArgumentError, fn -> TTLKV.backup(s, dest, [:compact]) end
      assert_raise ArgumentError, fn -> TTLKV.backup(s, dest <> <<0>> <> "x") end
      refute File.exists?(dest)
    end
  end

  describe "bad input and a closed store" do
    test "wrong types raise ArgumentError and write nothing", %{store: s} do
      assert_raise ArgumentError, fn -> TTLKV.touch(s, "ns", 1, 1_000) end
      assert_raise ArgumentError, fn -> TTLKV.touch(s, "ns", "k", -1) end
      assert_raise ArgumentError, fn -> TTLKV.add(s, "ns", "k", :v, 1_000) end
      assert_raise ArgumentError, fn -> TTLKV.add(s, "ns", "k", "v", :forever) end
      assert_raise ArgumentError, fn -> TTLKV.take(s, nil, "k") end
      assert_raise ArgumentError, fn -> TTLKV.get_versioned(s, "ns", %{}) end
      assert_raise ArgumentError, fn -> TTLKV.count(s, 1) end
      assert_raise ArgumentError, fn -> TTLKV.clear(s, nil) end
      assert_raise ArgumentError, fn -> TTLKV.namespaces(%{}) end
      assert_raise ArgumentError, fn -> TTLKV.max_bytes(make_ref()) end

      assert_raise ArgumentError, ~r/delta/, fn -> TTLKV.incr(s, "ns", "c", 1.0) end
      assert_raise ArgumentError, ~r/delta/, fn -> TTLKV.incr(s, "ns", "c", 1 <<< 63) end
      assert_raise ArgumentError, ~r/delta/, fn -> TTLKV.decr(s, "ns", "c", -(1 <<< 63)) end
      assert_raise ArgumentError, ~r/create/, fn -> TTLKV.incr(s, "ns", "c", 1, create: -1) end
      assert_raise ArgumentError, ~r/create/, fn -> TTLKV.incr(s, "ns", "c", 1, create: nil) end
      assert_raise ArgumentError, ~r/unknown/, fn -> TTLKV.incr(s, "ns", "c", 1, ttl: 1) end
      assert_raise ArgumentError, fn -> TTLKV.incr(s, "ns", "c", 1, :create) end

      for bad <- [0, -1, 1.5, :none, nil] do
        assert_raise ArgumentError, ~r/expected/, fn ->
          TTLKV.put_if_version(s, "ns", "k", "v", 1_000, bad)
        end
      end

      # The extremes of a delta are taken.
      assert {:ok, -0x8000000000000000} =
               TTLKV.incr(s, "ns", "min", -0x8000000000000000, create: 1_000)

      assert {:ok, -0x7FFFFFFFFFFFFFFF} =
               TTLKV.decr(s, "ns", "neg", 0x7FFFFFFFFFFFFFFF, create: 1_000)

      assert TTLKV.keys(s, "ns") == {:ok, ["min", "neg"]}
    end

    test "every cache operation on a closed store is {:error, :closed}", %{dir: dir, store: s} do
      :ok = TTLKV.put(s, "ns", "k", "v", @hour)
      :ok = TTLKV.close(s)

      calls = [
        fn -> TTLKV.touch(s, "ns", "k", 1_000) end,
        fn -> TTLKV.add(s, "ns", "k2", "v", 1_000) end,
        fn -> TTLKV.incr(s, "ns", "c", 1, create: 1_000) end,
        fn -> TTLKV.decr(s, "ns", "c", 1) end,
        fn -> TTLKV.take(s, "ns", "k") end,
        fn -> TTLKV.get_versioned(s, "ns", "k") end,
        fn -> TTLKV.put_if_version(s, "ns", "k", "v", 1_000, :absent) end,
        fn -> TTLKV.get_many(s, "ns", ["k"]) end,
        fn -> TTLKV.delete_many(s, "ns", ["k"]) end,
        fn -> TTLKV.clear(s, "ns") end,
        fn -> TTLKV.count(s, "ns") end,
        fn -> TTLKV.namespaces(s) end,
        fn -> TTLKV.scan(s, "ns", "", nil, 10) end,
        fn -> TTLKV.set_max_bytes(s, 1 <<< 20) end,
        fn -> TTLKV.max_bytes(s) end,
        fn -> TTLKV.backup(s, dir <> "-closed") end
      ]

      for call <- calls, do: assert(call.() == {:error, :closed})
      refute File.exists?(dir <> "-closed")

      {:ok, s2} = TTLKV.open(dir)
      assert TTLKV.get(s2, "ns", "k") == {:ok, "v"}
      assert TTLKV.get_many(s2, "ns", ["k2", "c"]) == {:ok, [nil, nil]}
      assert TTLKV.close(s2) == :ok
    end
  end
end
