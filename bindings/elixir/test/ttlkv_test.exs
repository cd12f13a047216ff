defmodule TTLKVTest do
  # Not async: some tests count live store handles in the VM.
  use ExUnit.Case, async: false
  doctest TTLKV

  import ExUnit.CaptureLog
  import TTLKV.TestHelpers

  setup context do
    dir = tmp_dir(context)
    {:ok, store} = TTLKV.open(dir)
    %{dir: dir, store: store}
  end

  describe "put, get, delete, keys" do
    test "a value put is read back at once, byte for byte", %{store: s} do
      every_byte = :binary.list_to_bin(Enum.to_list(0..255))
      assert TTLKV.get(s, "ns", "k") == :not_found
      assert TTLKV.put(s, "ns", "k", every_byte, 60_000) == :ok
      assert TTLKV.get(s, "ns", "k") == {:ok, every_byte}
      assert TTLKV.put(s, "ns", every_byte, "v", 60_000) == :ok
      assert TTLKV.get(s, "ns", every_byte) == {:ok, "v"}
    end

    test "the empty key and the empty value are ordinary", %{store: s} do
      assert TTLKV.put(s, "ns", "", "", 60_000) == :ok
      assert TTLKV.get(s, "ns", "") == {:ok, ""}
      assert TTLKV.keys(s, "ns") == {:ok, [""]}
    end

    test "iolists are accepted for namespace, key and value", %{store: s} do
      assert TTLKV.put(s, ["n", ?s], ["k", ["e", "y"]], ["va", [?l]], 60_000) == :ok
      assert TTLKV.get(s, "ns", "key") == {:ok, "val"}
    end

    test "values larger than the NIF's stack buffer come back whole", %{store: s} do
      for size <- [4095, 4096, 4097, 65_536, 3_000_000] do
        value = :crypto.strong_rand_bytes(size)
        assert TTLKV.put(s, "ns", "big", value, 60_000) == :ok
        assert TTLKV.get(s, "ns", "big") == {:ok, value}
      end
    end

    test "delete reports whether a live entry was removed", %{store: s} do
      assert TTLKV.delete(s, "ns", "k") == :not_found
      :ok = TTLKV.put(s, "ns", "k", "v", 60_000)
      assert TTLKV.delete(s, "ns", "k") == :ok
      assert TTLKV.get(s, "ns", "k") == :not_found
      assert TTLKV.delete(s, "ns", "k") == :not_found
    end

    test "keys lists the namespace's live keys in byte order, without the namespace",
         %{store: s} do
      for k <- ["b", "a", "c", <<0>>, <<255>>], do: :ok = TTLKV.put(s, "ns", k, "v", 60_000)
      :ok = TTLKV.put(s, "other", "z", "v", 60_000)
      assert TTLKV.keys(s, "ns") == {:ok, [<<0>>, "a", "b", "c", <<255>>]}
      assert TTLKV.keys(s, "none") == {:ok, []}
    end

    test "namespaces never collide, whatever bytes they hold", %{store: s} do
      :ok = TTLKV.put(s, "a:b", "c", "first", 60_000)
      :ok = TTLKV.put(s, "a", "b:c", "second", 60_000)
      assert TTLKV.get(s, "a:b", "c") == {:ok, "first"}
      assert TTLKV.get(s, "a", "b:c") == {:ok, "second"}
      assert TTLKV.keys(s, "a") == {:ok, ["b:c"]}
    end

    test "put_many writes every record atomically", %{store: s} do
      records = for i <- 1..1000, do: {"k#{i}", "v#{i}"}
      assert TTLKV.put_many(s, "ns", records, 60_000) == :ok
      assert TTLKV.get(s, "ns", "k1000") == {:ok, "v1000"}
      assert {:ok, keys} = TTLKV.keys(s, "ns")
      assert length(keys) == 1000

      bad = [{"x1", "1"}, {:binary.copy("k", 100_000), "too long"}, {"x2", "2"}]
      assert {:error, {:key_too_long, detail}} = TTLKV.put_many(s, "ns", bad, 60_000)
      assert is_binary(detail)
      assert TTLKV.get(s, "ns", "x1") == :not_found
      assert TTLKV.get(s, "ns", "x2") == :not_found
      assert TTLKV.put_many(s, "ns", [], 60_000) == :ok
    end

    test "overwriting restarts the lifetime with the new TTL", %{store: s} do
      :ok = TTLKV.put(s, "ns", "k", "v1", 3_600_000)
      {:ok, long} = TTLKV.deadline(s, "ns", "k")
      :ok = TTLKV.put(s, "ns", "k", "v2", 1_000)
      {:ok, short} = TTLKV.deadline(s, "ns", "k")
      assert short < long
      now = System.os_time(:millisecond)
      assert short in (now - 100)..(now + 1_000)
      assert TTLKV.get(s, "ns", "k") == {:ok, "v2"}
    end

    test "entries gives keys and values of one snapshot; purge_expired and flush", %{store: s} do
      :ok = TTLKV.put_many(s, "ns", [{"long", "y"}, {"a", ""}], 60_000)
      :ok = TTLKV.put(s, "ns", "short", "x", 300)
      {:ok, d} = TTLKV.deadline(s, "ns", "short")
      wait_until(fn -> System.os_time(:millisecond) > d end)
      assert TTLKV.entries(s, "ns") == {:ok, [{"a", ""}, {"long", "y"}]}
      assert {:ok, removed} = TTLKV.purge_expired(s)
      assert removed in [0, 1]
      assert TTLKV.flush(s) == :ok
    end

    test ":infinity never expires", %{store: s} do
      :ok = TTLKV.put(s, "ns", "k", "v", :infinity)
      assert TTLKV.deadline(s, "ns", "k") == {:ok, :infinity}
    end
  end

  describe "put_record and delete_record" do
    test "give the record records/2 reads after the write, in one call", %{store: s} do
      {:ok, origin} = TTLKV.origin(s)

      assert {:ok, [{"ns", "k", "v1", d1, v1, ^origin, false}]} =
               TTLKV.put_record(s, "ns", "k", "v1", 60_000)

      assert TTLKV.records(s, [{"ns", "k"}]) == {:ok, [{"ns", "k", "v1", d1, v1, origin, false}]}

      assert {:ok, [{"ns", "k", "v2", _, v2, ^origin, false}]} =
               TTLKV.put_record(s, "ns", "k", "v2", 60_000)

      assert v2 > v1
      # Without replication a delete leaves nothing to send; with it, a tombstone.
      assert TTLKV.delete_record(s, "ns", "k") == {:ok, []}
      assert TTLKV.delete_record(s, "ns", "never") == {:ok, []}
      :ok = TTLKV.set_replicated(s, true)
      {:ok, _} = TTLKV.put_record(s, "ns", "k", "v3", 60_000)
      assert {:ok, [{"ns", "k", "", _, _, ^origin, true}]} = TTLKV.delete_record(s, "ns", "k")
      assert TTLKV.get(s, "ns", "k") == :not_found
    end

    test "bad input is refused and writes nothing", %{store: s} do
      assert {:error, {:key_too_long, _}} =
               TTLKV.put_record(s, "ns", :binary.copy("k", 4096), "v", 60_000)

      assert {:error, {:ttl_invalid, _}} = TTLKV.put_record(s, "ns", "k", "v", 0)
      assert TTLKV.keys(s, "ns") == {:ok, []}
      assert_raise ArgumentError, fn -> TTLKV.put_record(s, "ns", :k, "v", 60_000) end
    end
  end

  describe "expiry" do
    test "an expired value is never returned, checked right at the deadline", %{store: s} do
      :ok = TTLKV.put(s, "ns", "k", "v", 400)
      {:ok, deadline} = TTLKV.deadline(s, "ns", "k")

      # Read as fast as we can from well before the deadline to well after it.
      reads = read_loop(s, deadline + 100, [])
      before = for {t0, t1, r} <- reads, t1 < deadline, do: {t0, r}
      past = for {t0, _t1, r} <- reads, t0 > deadline, do: r

      assert length(before) > 10
      assert length(past) > 10
      assert Enum.all?(before, fn {_, r} -> r == {:ok, "v"} end)
      assert Enum.all?(past, &(&1 == :not_found))
      assert TTLKV.keys(s, "ns") == {:ok, []}
      assert TTLKV.deadline(s, "ns", "k") == :not_found
    end

    test "a deleted key stays deleted and a new put is not hit by the old deadline",
         %{store: s} do
      :ok = TTLKV.put(s, "ns", "k", "old", 300)
      {:ok, old_deadline} = TTLKV.deadline(s, "ns", "k")
      :ok = TTLKV.delete(s, "ns", "k")
      :ok = TTLKV.put(s, "ns", "k", "new", 60_000)
      wait_until(fn -> System.os_time(:millisecond) > old_deadline + 50 end)
      assert TTLKV.get(s, "ns", "k") == {:ok, "new"}
    end
  end

  # Reads until `until`, and on past it (up to 5 s more) until at least 20 reads started after
  # it: on a loaded machine the loop can be descheduled for longer than the window.
  defp read_loop(s, until, acc, past \\ 0) do
    t0 = System.os_time(:millisecond)

    if t0 > until and (past >= 20 or t0 > until + 5_000) do
      acc
    else
      r = TTLKV.get(s, "ns", "k")
      t1 = System.os_time(:millisecond)
      read_loop(s, until, [{t0, t1, r} | acc], if(t0 > until - 100, do: past + 1, else: past))
    end
  end

  describe "errors" do
    test "runtime failures are {:error, {status, detail}}", %{store: s} do
      assert {:error, {:ttl_invalid, d1}} = TTLKV.put(s, "ns", "k", "v", 0)
      assert {:error, {:namespace_invalid, d2}} = TTLKV.put(s, "", "k", "v", 1_000)

      assert {:error, {:namespace_invalid, _}} =
               TTLKV.put(s, :binary.copy("n", 256), "k", "v", 1_000)

      assert {:error, {:key_too_long, d3}} =
               TTLKV.put(s, "ns", :binary.copy("k", 10_000), "v", 1_000)

      assert {:error, {:key_too_long, _}} = TTLKV.get(s, "ns", :binary.copy("k", 10_000))
      assert {:error, {:namespace_invalid, _}} = TTLKV.keys(s, "")
      for d <- [d1, d2, d3], do: assert(is_binary(d) and d != "")
      # The store is still fine afterwards.
      assert TTLKV.put(s, "ns", "k", "v", 1_000) == :ok
    end

    test "a value over 1 GiB is refused, not truncated", %{store: s} do
      huge = :binary.copy(<<0>>, 1024 * 1024 * 1024 + 1)
      assert {:error, {:value_too_large, _}} = TTLKV.put(s, "ns", "k", huge, 1_000)
      assert TTLKV.get(s, "ns", "k") == :not_found
    end

    test "a closed store answers {:error, :closed}; close is idempotent", %{store: s} do
      :ok = TTLKV.put(s, "ns", "k", "v", 60_000)
      assert TTLKV.close(s) == :ok
      assert TTLKV.close(s) == :ok
      assert TTLKV.get(s, "ns", "k") == {:error, :closed}
      assert TTLKV.put(s, "ns", "k", "v", 1_000) == {:error, :closed}
      assert TTLKV.put_many(s, "ns", [{"a", "b"}], 1_000) == {:error, :closed}
      assert TTLKV.delete(s, "ns", "k") == {:error, :closed}
      assert TTLKV.keys(s, "ns") == {:error, :closed}
      assert TTLKV.deadline(s, "ns", "k") == {:error, :closed}
      assert TTLKV.entries(s, "ns") == {:error, :closed}
      assert TTLKV.flush(s) == {:error, :closed}
      assert TTLKV.purge_expired(s) == {:error, :closed}
      assert TTLKV.stats(s) == {:error, :closed}
      assert TTLKV.verify(s) == {:error, :closed}
      assert TTLKV.max_key_len(s, "ns") == {:error, :closed}
    end

    test "wrong argument types raise ArgumentError", %{store: s} do
      assert_raise ArgumentError, fn -> TTLKV.put(s, "ns", 1, "v", 1_000) end
      assert_raise ArgumentError, fn -> TTLKV.put(s, "ns", "k", :v, 1_000) end
      assert_raise ArgumentError, fn -> TTLKV.put(s, "ns", "k", "v", -1) end
      assert_raise ArgumentError, fn -> TTLKV.put(s, "ns", "k", "v", 1.5) end
      assert_raise ArgumentError, fn -> TTLKV.put(s, "ns", "k", "v", :forever) end
      assert_raise ArgumentError, fn -> TTLKV.get(s, nil, "k") end
      assert_raise ArgumentError, fn -> TTLKV.get(%{}, "ns", "k") end
      assert_raise ArgumentError, fn -> TTLKV.get(make_ref(), "ns", "k") end
      assert_raise ArgumentError, fn -> TTLKV.put_many(s, "ns", [{"k"}], 1_000) end
      assert_raise ArgumentError, fn -> TTLKV.put_many(s, "ns", ["k"], 1_000) end
      assert_raise ArgumentError, fn -> TTLKV.put_many(s, "ns", :x, 1_000) end
      assert_raise ArgumentError, fn -> TTLKV.max_key_len(s, :ns) end
      assert_raise ArgumentError, fn -> TTLKV.stats(%{}) end
      assert_raise ArgumentError, fn -> TTLKV.verify(make_ref()) end
      assert_raise ArgumentError, fn -> TTLKV.flush(nil) end
      assert_raise ArgumentError, fn -> TTLKV.open("/tmp/a\0b") end
      assert_raise ArgumentError, fn -> TTLKV.open("/tmp/x", bogus: 1) end
      assert_raise ArgumentError, fn -> TTLKV.open("/tmp/x", durability: :eventually) end
      assert_raise ArgumentError, fn -> TTLKV.open("/tmp/x", map_size: -1) end
    end

    test "a path that is a file, or cannot be created, is an open error", %{dir: dir} do
      file = Path.join(dir, "a-file")
      File.write!(file, "x")
      assert {:error, {status, detail}} = TTLKV.open(file)
      assert status in [:path_invalid, :io, :incompatible]
      assert detail =~ "a-file"
      assert {:error, {_, _}} = TTLKV.open(Path.join(file, "below"))
      assert {:error, {:path_invalid, _}} = TTLKV.open("")
    end
  end

  describe "flush, stats, verify, max_key_len" do
    test "flush succeeds in both durability modes; the old name sync/1 is gone", %{
      dir: dir,
      store: s
    } do
      :ok = TTLKV.put(s, "ns", "k", "v", 60_000)
      assert TTLKV.flush(s) == :ok

      {:ok, p} = TTLKV.open(dir <> "-periodic", durability: :periodic)
      on_exit(fn -> File.rm_rf(dir <> "-periodic") end)
      :ok = TTLKV.put(p, "ns", "k", "v", 60_000)
      assert TTLKV.flush(p) == :ok
      assert TTLKV.close(p) == :ok

      refute function_exported?(TTLKV, :sync, 1)
    end

    test "stats has one key per counter of the library, in the header's numbering", %{store: s} do
      # The library's own list, asked anew (not the NIF's table made at load).
      names =
        Stream.iterate(0, &(&1 + 1))
        |> Stream.map(&TTLKV.NIF.stat_name/1)
        |> Enum.take_while(&(&1 != nil))

      assert names != []
      assert names == Enum.uniq(names)

      assert {:ok, stats} = TTLKV.stats(s)
      assert Enum.sort(Map.keys(stats)) == Enum.sort(Enum.map(names, &String.to_atom/1))
      assert Enum.all?(Map.values(stats), &(is_integer(&1) and &1 >= 0))

      # Every TTLKV_STAT_* of the header the NIF was built with names the counter of its
      # number (the library may have appended newer ones).
      header = File.read!(header_path())
      defined = Regex.scan(~r/^#define TTLKV_STAT_(\w+) (\d+)$/m, header)
      assert defined != []

      for [_, name, n] <- defined do
        assert Enum.at(names, String.to_integer(n)) == String.downcase(name)
      end
    end

    test "the write counters move with puts and are shared by handles on the directory", %{
      dir: dir,
      store: s
    } do
      {:ok, before} = TTLKV.stats(s)
      for k <- ["a", "b", "c"], do: :ok = TTLKV.put(s, "ns", k, "v", 60_000)
      {:ok, later} = TTLKV.stats(s)
      assert later.write_calls - before.write_calls == 3
      assert (later.write_commits - before.write_commits) in 1..3
      assert later.map_size >= later.used_bytes and later.used_bytes > 0

      {:ok, other} = TTLKV.open(dir)
      {:ok, seen} = TTLKV.stats(other)
      assert seen.write_calls == later.write_calls
      assert TTLKV.close(other) == :ok
    end

    test "expired_removed grows once an expired entry is removed", %{store: s} do
      {:ok, before} = TTLKV.stats(s)
      :ok = TTLKV.put(s, "ns", "short", "x", 50)
      {:ok, d} = TTLKV.deadline(s, "ns", "short")
      wait_until(fn -> System.os_time(:millisecond) > d end)

      # The expiry thread or this purge removes it, whichever comes first; both count it.
      wait_until(fn ->
        {:ok, _} = TTLKV.purge_expired(s)
        {:ok, now} = TTLKV.stats(s)
        now.expired_removed >= before.expired_removed + 1
      end)
    end

    test "verify finds nothing wrong in a healthy store", %{store: s} do
      assert TTLKV.verify(s) == {:ok, []}
      :ok = TTLKV.put_many(s, "ns", for(i <- 1..200, do: {"k#{i}", "v"}), 60_000)
      :ok = TTLKV.put(s, "ns", "forever", "v", :infinity)
      :ok = TTLKV.delete(s, "ns", "k7")
      assert TTLKV.verify(s) == {:ok, []}
    end

    test "verify describes an index record whose entry key was damaged on disk", %{dir: dir} do
      {:ok, s} = TTLKV.open(dir)
      :ok = TTLKV.put(s, "ns", "key1", "value", 3_600_000)
      {:ok, deadline} = TTLKV.deadline(s, "ns", "key1")
      assert TTLKV.close(s) == :ok

      # The index record 0x00 · deadline · ns_len · ns · key (README, "On-disk format"):
      # change the key's last byte, so it names an entry that does not exist and the entry
      # has no index record. LMDB keeps no checksums, so it reads the page as it is.
      data_file = Path.join(dir, "data.mdb")
      data = File.read!(data_file)
      hits = :binary.matches(data, <<0, deadline::64, 2, "ns", "key1">>)
      assert hits != []

      damaged =
        Enum.reduce(hits, data, fn {pos, len}, acc ->
          <<head::binary-size(pos + len - 1), _::8, tail::binary>> = acc
          <<head::binary, "0", tail::binary>>
        end)

      File.write!(data_file, damaged)

      {:ok, s} = TTLKV.open(dir)
      assert {:ok, problems} = TTLKV.verify(s)
      assert problems != []
      assert Enum.all?(problems, &(is_binary(&1) and &1 != "" and not (&1 =~ "\n")))
      assert Enum.any?(problems, &(&1 =~ "index record"))
      # The entry itself is still served.
      assert TTLKV.get(s, "ns", "key1") == {:ok, "value"}
      assert TTLKV.close(s) == :ok
    end

    test "max_key_len is the longest key a put takes, for every namespace length", %{store: s} do
      for ns <- ["n", "ns", :binary.copy("n", 100), :binary.copy("n", 255)] do
        assert {:ok, max} = TTLKV.max_key_len(s, ns)
        assert max > 0
        longest = :binary.copy("k", max)
        assert TTLKV.put(s, ns, longest, "v", 60_000) == :ok
        assert TTLKV.get(s, ns, longest) == {:ok, "v"}

        too_long = longest <> "k"
        assert {:error, {:key_too_long, detail}} = TTLKV.put(s, ns, too_long, "v", 60_000)
        assert detail =~ Integer.to_string(max)
        assert {:error, {:key_too_long, _}} = TTLKV.get(s, ns, too_long)
      end

      # The namespace and the key share one limit.
      {:ok, short} = TTLKV.max_key_len(s, "n")
      {:ok, long} = TTLKV.max_key_len(s, :binary.copy("n", 255))
      assert short - long == 254
      assert TTLKV.max_key_len(s, ["n", [?s]]) == TTLKV.max_key_len(s, "ns")
    end

    test "max_key_len refuses a namespace the store refuses", %{store: s} do
      assert {:error, {:namespace_invalid, _}} = TTLKV.max_key_len(s, "")
      assert {:error, {:namespace_invalid, _}} = TTLKV.max_key_len(s, :binary.copy("n", 256))
    end
  end

  defp header_path do
    include = System.get_env("TTLKV_INCLUDE_DIR") || Path.expand("../../../include", __DIR__)
    Path.join(include, "ttlkv.h")
  end

  describe "store directories" do
    test "a directory other users could write to is refused unless allow_shared_dir" do
      for mode <- [0o777, 0o775, 0o757] do
        dir = mkdir_private!(tmp_dir("shared-#{Integer.to_string(mode, 8)}"))
        File.chmod!(dir, mode)

        assert {:error, {:permission, detail}} = TTLKV.open(dir)
        assert detail =~ "allow_shared_dir"
        assert {:error, {:permission, _}} = TTLKV.open(dir, allow_shared_dir: false)
        # Refused untouched: no store file was created.
        assert File.ls!(dir) == []

        assert {:ok, s} = TTLKV.open(dir, allow_shared_dir: true)
        assert TTLKV.put(s, "ns", "k", "v", 60_000) == :ok
        assert TTLKV.get(s, "ns", "k") == {:ok, "v"}
        assert TTLKV.close(s) == :ok
        assert Bitwise.band(File.stat!(dir).mode, 0o7777) == mode
      end
    end

    test "a directory of mode 0700 or 0755 opens with the default" do
      for mode <- [0o700, 0o755] do
        dir = mkdir_private!(tmp_dir("private-#{Integer.to_string(mode, 8)}"))
        File.chmod!(dir, mode)
        assert {:ok, s} = TTLKV.open(dir)
        assert TTLKV.close(s) == :ok
      end
    end

    test "a directory the store creates is 0700 and opens with the default" do
      dir = tmp_dir("created")
      assert {:ok, s} = TTLKV.open(dir)
      assert Bitwise.band(File.stat!(dir).mode, 0o777) == 0o700
      assert TTLKV.close(s) == :ok
    end

    test "a store file that is a link is refused with either setting, the target untouched" do
      victim_dir = mkdir_private!(tmp_dir("victim"))
      victim = Path.join(victim_dir, "precious")
      File.write!(victim, "precious bytes")
      File.chmod!(victim, 0o600)
      # A hard link changes the target's link count and ctime, never these.
      facts = fn ->
        st = File.stat!(victim, time: :posix)
        {File.read!(victim), st.type, st.size, st.mode, st.mtime, st.inode}
      end

      before = facts.()

      for name <- ["lock.mdb", "data.mdb"],
          kind <- [:symlink, :hard_link],
          allow <- [false, true] do
        dir = mkdir_private!(tmp_dir("link"))
        path = Path.join(dir, name)

        case kind do
          :symlink -> File.ln_s!(victim, path)
          :hard_link -> File.ln!(victim, path)
        end

        assert {:error, {:path_invalid, detail}} = TTLKV.open(dir, allow_shared_dir: allow)
        assert detail =~ name
        assert File.ls!(dir) == [name]
        assert facts.() == before
        # The link itself is left as it was.
        assert File.lstat!(path).type == if(kind == :symlink, do: :symlink, else: :regular)
      end
    end

    test "allow_shared_dir must be a boolean", %{dir: dir} do
      for bad <- [1, 0, "true", :yes, nil] do
        assert_raise ArgumentError, ~r/allow_shared_dir must be a boolean/, fn ->
          TTLKV.open(dir <> "-bad", allow_shared_dir: bad)
        end
      end

      refute File.exists?(dir <> "-bad")
    end
  end

  describe "on_corruption" do
    test ":reset opens a damaged store as an empty one, the old one kept aside and logged" do
      dir = tmp_dir("reset")
      data = damaged_store!(dir)
      damaged = File.read!(data)

      log =
        capture_log(fn ->
          assert {:ok, s} = TTLKV.open(dir, on_corruption: :reset)
          send(self(), {:store, s})
        end)

      assert_received {:store, s}
      assert [aside] = set_aside(dir)
      assert aside =~ ~r/^#{Regex.escape(dir)}\.corrupted-\d+$/
      # The damaged store, as it was, under the new name; a fresh one at the old.
      assert File.read!(Path.join(aside, "data.mdb")) == damaged
      assert TTLKV.corruption_reset(s) == {:ok, aside}
      assert TTLKV.keys(s, "ns") == {:ok, []}
      assert TTLKV.namespaces(s) == {:ok, []}
      assert {:ok, %{corruption_resets: 1}} = TTLKV.stats(s)
      assert log =~ "[warning]"
      assert log =~ "#{dir} was damaged"
      assert log =~ "moved aside to #{aside}"

      assert TTLKV.put(s, "ns", "k", "new", 60_000) == :ok
      assert TTLKV.get(s, "ns", "k") == {:ok, "new"}

      # Another handle on the same environment reports the reset, but it is warned once.
      log2 =
        capture_log(fn ->
          {:ok, s2} = TTLKV.open(dir, on_corruption: :reset)
          assert TTLKV.corruption_reset(s2) == {:ok, aside}
          assert TTLKV.close(s2) == :ok
        end)

      refute log2 =~ "damaged"
      assert TTLKV.close(s) == :ok

      # The new store is an ordinary one: reopened, it has the new entry and no reset.
      {:ok, s} = TTLKV.open(dir)
      assert TTLKV.get(s, "ns", "k") == {:ok, "new"}
      assert TTLKV.corruption_reset(s) == :not_found
      assert {:ok, %{corruption_resets: 0}} = TTLKV.stats(s)
      assert TTLKV.close(s) == :ok
      assert set_aside(dir) == [aside]
    end

    test ":error, the default, fails with :corrupted and leaves the store untouched" do
      dir = tmp_dir("error")
      data = damaged_store!(dir)
      damaged = File.read!(data)
      facts = fn -> {File.read!(data), File.ls!(dir) |> Enum.sort(), set_aside(dir)} end
      before = facts.()

      for opts <- [[], [on_corruption: :error]] do
        assert {:error, {:corrupted, detail}} = TTLKV.open(dir, opts)
        assert detail =~ data
        assert facts.() == before
      end

      assert File.read!(data) == damaged
      assert File.stat!(data).size == 8209
      assert set_aside(dir) == []
    end

    test ":reset opens a healthy store as it is, logging nothing" do
      dir = tmp_dir("healthy")
      {:ok, s} = TTLKV.open(dir)
      :ok = TTLKV.put(s, "ns", "k", "v", 60_000)
      :ok = TTLKV.close(s)

      log =
        capture_log(fn ->
          {:ok, s} = TTLKV.open(dir, on_corruption: :reset)
          assert TTLKV.get(s, "ns", "k") == {:ok, "v"}
          assert TTLKV.corruption_reset(s) == :not_found
          assert {:ok, %{corruption_resets: 0}} = TTLKV.stats(s)
          assert TTLKV.close(s) == :ok
        end)

      refute log =~ "damaged"
      assert set_aside(dir) == []
    end

    test "crash_safe: after a crash of the machine the store is back at its last flush" do
      dir = tmp_dir("crash-safe")
      opts = [durability: :periodic, sync_interval: 3_600_000, crash_safe: true]
      {:ok, s} = TTLKV.open(dir, opts)
      :ok = TTLKV.put(s, "ns", "a", "flushed", 60_000)
      :ok = TTLKV.flush(s)
      :ok = TTLKV.put(s, "ns", "a", "after the flush", 60_000)
      :ok = TTLKV.put(s, "ns", "b", "after the flush", 60_000)

      # What the disk holds after a crash of the process (the page cache kept every write),
      # with the flush mark rewritten as if the machine had booted since.
      image = tmp_dir("crash-safe-image")
      File.mkdir_p!(image)
      File.chmod!(image, 0o700)

      for f <- ["data.mdb", "flush.mark"] do
        File.cp!(Path.join(dir, f), Path.join(image, f))
      end

      :ok = TTLKV.close(s)
      mark = Path.join(image, "flush.mark")
      ["ttlkv-flush", "2", _boot, txnid, meta, state, _sum] = String.split(File.read!(mark))
      assert byte_size(meta) == 272
      body = Enum.join(["ttlkv-flush", "2", "an-earlier-boot", txnid, meta, state], " ")

      sum =
        body |> fnv1a() |> Integer.to_string(16) |> String.downcase() |> String.pad_leading(16, "0")

      File.write!(mark, String.pad_trailing(body <> " " <> sum <> "\n", 512))

      {:ok, s} = TTLKV.open(image, opts)
      assert {:ok, %{rolled_back_at_open: 1, verified_at_open: 1}} = TTLKV.stats(s)
      assert TTLKV.get(s, "ns", "a") == {:ok, "flushed"}
      assert TTLKV.get(s, "ns", "b") == :not_found
      assert TTLKV.close(s) == :ok

      assert {:error, {:invalid_argument, detail}} =
               TTLKV.open(tmp_dir("cs-sync"), crash_safe: true)

      assert detail =~ "crash_safe"

      assert_raise ArgumentError, ~r/crash_safe must be a boolean/, fn ->
        TTLKV.open(tmp_dir("cs-bad"), durability: :periodic, crash_safe: :yes)
      end
    end

    defp fnv1a(bytes) do
      for <<b <- bytes>>, reduce: 0xCBF29CE484222325 do
        h -> Bitwise.band(Bitwise.bxor(h, b) * 0x100000001B3, 0xFFFFFFFFFFFFFFFF)
      end
    end

    test "on_corruption must be :error or :reset; corruption_reset on a closed store" do
      dir = tmp_dir("bad-option")

      for bad <- [:ignore, "reset", true, 1, nil] do
        assert_raise ArgumentError, ~r/on_corruption must be :error or :reset/, fn ->
          TTLKV.open(dir, on_corruption: bad)
        end
      end

      refute File.exists?(dir)
      assert_raise ArgumentError, fn -> TTLKV.corruption_reset(make_ref()) end
      {:ok, s} = TTLKV.open(dir, on_corruption: :error)
      assert TTLKV.corruption_reset(s) == :not_found
      assert TTLKV.close(s) == :ok
      assert TTLKV.corruption_reset(s) == {:error, :closed}
    end
  end

  describe "the library" do
    test "reports its version and the ABI the NIF checked at load" do
      assert TTLKV.abi_version() == TTLKV.NIF.abi_version_expected()
      assert TTLKV.version() =~ "LMDB"
    end

    test "an ABI mismatch at load is explained" do
      text = TTLKV.NIF.explain(:load_failed, "Library load-call unsuccessful (#{0x10000 + 2}).")
      assert text =~ "ABI version 2"
      assert text =~ "ABI version 1"
    end

    test "options that do not agree are refused by the library", %{dir: dir} do
      assert {:error, {:invalid_argument, msg}} =
               TTLKV.open(dir, durability: :sync, sync_interval: 200)

      assert msg =~ "sync_interval applies to periodic"

      assert {:error, {:invalid_argument, msg}} =
               TTLKV.open(dir, durability: :sync, write_map: true)

      assert msg =~ "write_map needs periodic"
    end

    test "open options are passed on", %{dir: dir} do
      dir2 = dir <> "-periodic"
      on_exit(fn -> File.rm_rf(dir2) end)

      assert {:ok, s} =
               TTLKV.open(dir2,
                 durability: :periodic,
                 sync_interval: 200,
                 map_size: 16 * 1024 * 1024,
                 max_map_size: 1024 * 1024 * 1024,
                 max_readers: 256
               )

      assert TTLKV.put(s, "ns", "k", "v", 1_000) == :ok
      assert inspect(s) == "#TTLKV<#{dir2}>"
    end

    test "write_map is a periodic-mode option", %{dir: dir} do
      dir2 = dir <> "-write-map"
      on_exit(fn -> File.rm_rf(dir2) end)
      assert {:error, {:invalid_argument, _}} = TTLKV.open(dir2, write_map: true)
      assert_raise ArgumentError, fn -> TTLKV.open(dir2, durability: :periodic, write_map: 1) end

      {:ok, s} = TTLKV.open(dir2, durability: :periodic, write_map: true)
      assert TTLKV.put_many(s, "ns", for(i <- 1..100, do: {"k#{i}", "v#{i}"}), 60_000) == :ok
      assert TTLKV.close(s) == :ok
      {:ok, s} = TTLKV.open(dir2)
      assert TTLKV.get(s, "ns", "k100") == {:ok, "v100"}
      assert TTLKV.close(s) == :ok
    end
  end
end
