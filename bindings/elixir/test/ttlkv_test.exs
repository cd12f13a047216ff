defmodule TTLKVTest do
  # Not async: some tests count live store handles in the VM.
  use ExUnit.Case, async: false
  doctest TTLKV

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

    test "entries gives keys and values of one snapshot; purge_expired and sync", %{store: s} do
      :ok = TTLKV.put_many(s, "ns", [{"long", "y"}, {"a", ""}], 60_000)
      :ok = TTLKV.put(s, "ns", "short", "x", 300)
      {:ok, d} = TTLKV.deadline(s, "ns", "short")
      wait_until(fn -> System.os_time(:millisecond) > d end)
      assert TTLKV.entries(s, "ns") == {:ok, [{"a", ""}, {"long", "y"}]}
      assert {:ok, removed} = TTLKV.purge_expired(s)
      assert removed in [0, 1]
      assert TTLKV.sync(s) == :ok
    end

    test ":infinity never expires", %{store: s} do
      :ok = TTLKV.put(s, "ns", "k", "v", :infinity)
      assert TTLKV.deadline(s, "ns", "k") == {:ok, :infinity}
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
      assert TTLKV.sync(s) == {:error, :closed}
      assert TTLKV.purge_expired(s) == {:error, :closed}
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
