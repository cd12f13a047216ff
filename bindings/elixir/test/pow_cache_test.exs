defmodule TTLKV.PowCacheTest do
  # POW.md, "What TTLKV.PowCache must pass", numbered as there; plus the MnesiaCache
  # shortcomings we promise not to have.
  use ExUnit.Case, async: false

  import ExUnit.CaptureIO
  import ExUnit.CaptureLog
  import TTLKV.TestHelpers

  alias TTLKV.PowCache
  alias TTLKV.PowCache.Key

  @moduletag timeout: 120_000
  @config [namespace: "pow:test", ttl: :timer.hours(1)]

  setup context do
    dir = tmp_dir(context)
    start_supervised!({PowCache, path: dir})
    %{dir: dir}
  end

  defp restart(dir, opts \\ []) do
    :ok = stop_supervised(PowCache)
    assert PowCache.store() == nil
    start_supervised!({PowCache, [path: dir] ++ opts})
  end

  # all/2 the way it was before it scanned prefixes: every entry decoded, matched (Pow's head
  # [namespace | List.wrap(key_match)], the namespace fixed already), sorted.
  defp all_by_matching_every_key(config, key_match) do
    {:ok, entries} = TTLKV.entries(PowCache.store(), config[:namespace])
    pairs = Enum.map(entries, fn {raw, bin} -> {Key.list_form(Key.decode(raw)), bin} end)
    spec = :ets.match_spec_compile([{{List.wrap(key_match), :_}, [], [:"$_"]}])

    pairs
    |> :ets.match_spec_run(spec)
    |> Enum.sort()
    |> Enum.map(fn {list_form, bin} -> {Key.unwrap(list_form), :erlang.binary_to_term(bin)} end)
  end

  defp deadline(config, key) do
    TTLKV.deadline(PowCache.store(), config[:namespace], Key.encode(key))
  end

  describe "1. get, put, delete" do
    test "missing is :not_found; a put is readable at once; a delete at once" do
      assert PowCache.get(@config, "key") == :not_found
      assert PowCache.put(@config, {"key", "value"}) == :ok
      assert PowCache.get(@config, "key") == "value"
      assert PowCache.delete(@config, "key") == :ok
      assert PowCache.get(@config, "key") == :not_found
      assert PowCache.delete(@config, "key") == :ok
    end

    test "values are any term" do
      value = %{
        user: {:user, 1, "name"},
        roles: [:admin],
        at: ~U[2024-01-01 00:00:00Z],
        pid: self()
      }

      :ok = PowCache.put(@config, {"key", value})
      assert PowCache.get(@config, "key") == value
    end

    test "the default namespace is \"cache\"" do
      :ok = PowCache.put([ttl: 60_000], {"k", 1})
      assert PowCache.get([namespace: "cache"], "k") == 1
      assert TTLKV.get(PowCache.store(), "cache", "k") == {:ok, :erlang.term_to_binary(1)}
    end

    test "one key in two namespaces is two independent entries" do
      a = Keyword.put(@config, :namespace, "a")
      b = Keyword.merge(@config, namespace: "b", ttl: 500)
      :ok = PowCache.put(a, {"same", :in_a})
      :ok = PowCache.put(b, {"same", :in_b})
      assert PowCache.get(a, "same") == :in_a
      assert PowCache.get(b, "same") == :in_b
      {:ok, b_deadline} = deadline(b, "same")
      wait_until(fn -> PowCache.get(b, "same") == :not_found end)
      assert System.os_time(:millisecond) >= b_deadline
      assert PowCache.get(a, "same") == :in_a
    end

    test "overwriting restarts the lifetime with the new TTL, shorter or longer" do
      :ok = PowCache.put(@config, {"k", 1})
      {:ok, long} = deadline(@config, "k")
      :ok = PowCache.put(Keyword.put(@config, :ttl, 300), {"k", 2})
      {:ok, short} = deadline(@config, "k")
      assert short < long
      wait_until(fn -> PowCache.get(@config, "k") == :not_found end)
      before_short_put = System.os_time(:millisecond)
      :ok = PowCache.put(Keyword.put(@config, :ttl, 100), {"k", 3})
      :ok = PowCache.put(@config, {"k", 4})
      {:ok, d} = deadline(@config, "k")
      # Past any deadline the 100 ms put could have had: the longer one replaced it.
      wait_until(fn -> System.os_time(:millisecond) > before_short_put + 250 end)
      assert PowCache.get(@config, "k") == 4
      assert d > System.os_time(:millisecond) + 3_000_000
    end

    test "a deleted key stays deleted; a later put is not hit by an old deadline" do
      short = Keyword.put(@config, :ttl, 300)
      :ok = PowCache.put(short, {"k", :old})
      {:ok, old_deadline} = deadline(short, "k")
      :ok = PowCache.delete(short, "k")
      assert PowCache.get(short, "k") == :not_found
      :ok = PowCache.put(@config, {"k", :new})
      wait_until(fn -> System.os_time(:millisecond) > old_deadline + 100 end)
      assert PowCache.get(@config, "k") == :new
    end
  end

  describe "2. values and deadlines survive restarts" do
    test "stopping and starting the supervised store", %{dir: dir} do
      :ok = PowCache.put(@config, {"key", "value"})
      :ok = PowCache.put(@config, [{["user", 1], %{id: 1}}, {"key2", 2}])
      {:ok, d} = deadline(@config, "key")
      restart(dir)
      assert PowCache.get(@config, "key") == "value"
      assert PowCache.get(@config, ["user", 1]) == %{id: 1}
      assert PowCache.get(@config, "key2") == 2
      assert deadline(@config, "key") == {:ok, d}
    end

    test "a supervisor restart after the owner is killed" do
      :ok = PowCache.put(@config, {"key", "value"})
      pid = Process.whereis(PowCache)
      Process.exit(pid, :kill)

      wait_until(fn ->
        new = Process.whereis(PowCache)
        new != nil and new != pid and PowCache.store() != nil
      end)

      wait_until(fn ->
        try do
          PowCache.get(@config, "key") == "value"
        rescue
          PowCache.Error -> false
        end
      end)
    end

    test "a new OS process starting the store on the same path", %{dir: dir} do
      :ok = PowCache.put(@config, {"key", "value"})
      :ok = PowCache.put(@config, {["user", 7, "session"], {:session, 7}})
      {:ok, d} = deadline(@config, "key")
      :ok = stop_supervised(PowCache)

      # The value names the atom :session: a real app has its atoms loaded (values are read
      # back with binary_to_term(_, [:safe]), which creates none).
      code = """
      _ = :session
      {:ok, _} = TTLKV.PowCache.start_link(path: #{inspect(dir)})
      config = #{inspect(@config)}
      result = {
        TTLKV.PowCache.get(config, "key"),
        TTLKV.PowCache.get(config, ["user", 7, "session"]),
        TTLKV.deadline(TTLKV.PowCache.store(), "pow:test", "key")
      }
      :ok = TTLKV.PowCache.put(config, {"from_child", :hello})
      IO.puts("RESULT " <> Base.encode64(:erlang.term_to_binary(result)))
      """

      {output, status} = run_elixir(code)
      assert status == 0, output
      [_, b64] = Regex.run(~r/RESULT (\S+)/, output)

      assert :erlang.binary_to_term(Base.decode64!(b64)) ==
               {"value", {:session, 7}, {:ok, d}}

      start_supervised!({PowCache, path: dir})
      assert PowCache.get(@config, "from_child") == :hello
    end
  end

  describe "3. short TTLs" do
    test "a key is gone shortly after its TTL and never returned after it" do
      config = Keyword.put(@config, :ttl, 400)
      :ok = PowCache.put(config, {"key", "value"})
      :ok = PowCache.put(config, [{"key1", "1"}, {"key2", "2"}])
      {:ok, d} = deadline(config, "key2")
      assert PowCache.get(config, "key") == "value"

      observed =
        wait_until(fn ->
          t0 = System.os_time(:millisecond)

          case PowCache.get(config, "key2") do
            :not_found -> {:gone_at, t0}
            "2" -> assert(t0 <= d) && false
          end
        end)

      {:gone_at, t} = observed
      # Not found from the deadline on (never before: checked above); the first poll that sees
      # it gone comes right after, unless the machine descheduled this process.
      assert t - d < 1_000
      assert PowCache.get(config, "key") == :not_found
      assert PowCache.get(config, "key1") == :not_found
      assert PowCache.all(config, :_) == []
    end
  end

  describe "4. expiry while the store is down" do
    test "entries of every namespace that expired while down are gone after start",
         %{dir: dir} do
      namespaces = ["credentials", "pow:test", "reset_password"]

      for ns <- namespaces do
        config = [namespace: ns, ttl: 1_000]
        :ok = PowCache.put(config, [{"short", 1}, {["user", 1], 2}])
        :ok = PowCache.put([namespace: ns, ttl: 3_600_000], {"long", 3})
      end

      # The latest of the short deadlines (the namespaces were written one after another).
      d =
        namespaces
        |> Enum.map(fn ns -> deadline([namespace: ns], ["user", 1]) end)
        |> Enum.map(fn {:ok, d} -> d end)
        |> Enum.max()

      :ok = stop_supervised(PowCache)
      wait_until(fn -> System.os_time(:millisecond) > d + 10 end, 5_000)
      start_supervised!({PowCache, path: dir})

      for ns <- namespaces do
        config = [namespace: ns]
        assert PowCache.get(config, "short") == :not_found
        assert PowCache.get(config, ["user", 1]) == :not_found
        assert PowCache.all(config, :_) == [{"long", 3}]
        assert TTLKV.keys(PowCache.store(), ns) == {:ok, ["long"]}
      end
    end
  end

  describe "5. records, all/2 and key shapes" do
    test "put of a list is atomic" do
      :ok = PowCache.put(@config, [{"key1", "1"}, {"key2", "2"}])
      assert PowCache.get(@config, "key1") == "1"
      assert PowCache.get(@config, "key2") == "2"

      too_long = :binary.copy("x", 100_000)

      assert_raise PowCache.Error, ~r/key_too_long/, fn ->
        PowCache.put(@config, [{"key3", "3"}, {too_long, "x"}, {["user", 3], "u"}])
      end

      assert PowCache.get(@config, "key3") == :not_found
      assert PowCache.get(@config, ["user", 3]) == :not_found
    end

    test "all/2 with :_ gives one-segment keys only, exactly as Pow's backends" do
      # Pow's MnesiaCache and EtsCache tests ("can match fetch all"), word for word.
      :ok = PowCache.put(@config, {"key1", "value"})
      :ok = PowCache.put(@config, {"key2", "value"})
      :ok = PowCache.put(@config, {["namespace", "key"], "value"})

      assert PowCache.all(@config, :_) == [{"key1", "value"}, {"key2", "value"}]
      assert PowCache.all(@config, ["namespace", :_]) == [{["namespace", "key"], "value"}]

      # One segment: a binary, [binary] (the same key), or a one-element list of another term.
      :ok = PowCache.put(@config, [{["key3"], 3}, {[:atom_key], 4}, {[7], 5}, {:bare, 6}])
      :ok = PowCache.put(@config, [{["user", 1], :u1}, {["user", 1, "session"], :s1}])

      assert PowCache.all(@config, :_) == [
               {7, 5},
               {:atom_key, 4},
               {:bare, 6},
               {"key1", "value"},
               {"key2", "value"},
               {"key3", 3}
             ]

      assert PowCache.all(@config, [:_]) == PowCache.all(@config, :_)

      assert PowCache.all(@config, [:_, :_]) == [
               {["namespace", "key"], "value"},
               {["user", 1], :u1}
             ]
    end

    test "all/2 with :_, [\"user\", :_] and [\"user\" | :_], in key order" do
      :ok = PowCache.put(@config, {"key2", "value"})
      :ok = PowCache.put(@config, {"key1", "value"})
      :ok = PowCache.put(@config, {["user", 2], :u2})
      :ok = PowCache.put(@config, {["user", 1], :u1})
      :ok = PowCache.put(@config, {["user", 1, "session"], :s1})
      :ok = PowCache.put(@config, {["namespace", "key"], "value"})
      :ok = PowCache.put(Keyword.put(@config, :namespace, "other"), {["user", 9], :other})

      assert PowCache.all(@config, :_) == [{"key1", "value"}, {"key2", "value"}]
      assert PowCache.all(@config, ["namespace", :_]) == [{["namespace", "key"], "value"}]
      assert PowCache.all(@config, ["user", :_]) == [{["user", 1], :u1}, {["user", 2], :u2}]

      assert PowCache.all(@config, ["user" | :_]) == [
               {["user", 1], :u1},
               {["user", 1, "session"], :s1},
               {["user", 2], :u2}
             ]

      assert PowCache.all(@config, ["user", 1 | :_]) == [
               {["user", 1], :u1},
               {["user", 1, "session"], :s1}
             ]

      assert PowCache.all(@config, "key1") == [{"key1", "value"}]
      assert PowCache.all(@config, ["nobody", :_]) == []
    end

    test "all/2 with bound leading segments gives what matching every key gives" do
      keys = TTLKV.TestHelpers.pow_keys()
      :ok = PowCache.put(@config, Enum.with_index(keys))
      :ok = PowCache.put(Keyword.put(@config, :namespace, "other"), Enum.map(keys, &{&1, :other}))

      for m <- TTLKV.TestHelpers.pow_matches() do
        assert PowCache.all(@config, m) == all_by_matching_every_key(@config, m), inspect(m)
      end

      sessions = PowCache.all(@config, [MyApp.Users.User, :user, 1, :session, :_])
      assert length(sessions) == 2
      assert length(PowCache.all(@config, [MyApp.Users.User, :user, :_])) == 9
    end

    test "all/2 pages through more matches than one scan returns" do
      n = TTLKV.max_keys_per_call() + 5
      records = for i <- 1..n, do: {["many", i], i}
      for chunk <- Enum.chunk_every(records, 20_000), do: :ok = PowCache.put(@config, chunk)
      :ok = PowCache.put(@config, [{["many!", 1], :no}, {"many", :no}])

      all = PowCache.all(@config, ["many", :_])
      assert length(all) == n
      assert all == Enum.sort(records)
    end

    test "all/2 sorts list keys when the empty key is stored too" do
      :ok = PowCache.put(@config, [{"", :empty}, {["user", 2], 2}, {[:a], :a}, {"b", :b}])
      # Byte order would give "", [:a], ["user", 2], "b"; Erlang term order of [key] is
      # [:a] < [""] < ["b"] (and ["user", 2], of two segments, is not in :_).
      assert PowCache.all(@config, :_) == [{:a, :a}, {"", :empty}, {"b", :b}]

      assert PowCache.all(@config, [:_ | :_]) == [
               {:a, :a},
               {"", :empty},
               {"b", :b},
               {["user", 2], 2}
             ]
    end

    test "all/2 of binary keys only is in Erlang term order too" do
      keys = ["b", "a", <<1>>, <<255>>, "a" <> <<255>>, "ab", ""]
      :ok = PowCache.put(@config, Enum.map(keys, &{&1, &1}))
      assert PowCache.all(@config, :_) == Enum.map(Enum.sort(keys), &{&1, &1})
    end

    test "all/2 leaves out expired entries" do
      :ok = PowCache.put(Keyword.put(@config, :ttl, 400), {["user", 1], :short})
      :ok = PowCache.put(@config, {["user", 2], :long})
      {:ok, d} = deadline(@config, ["user", 1])
      wait_until(fn -> System.os_time(:millisecond) > d end)
      assert PowCache.all(@config, ["user", :_]) == [{["user", 2], :long}]
    end

    test "key and [key] are the same key" do
      :ok = PowCache.put(@config, {"key", 1})
      assert PowCache.get(@config, ["key"]) == 1
      :ok = PowCache.put(@config, {["key"], 2})
      assert PowCache.get(@config, "key") == 2
      assert PowCache.all(@config, :_) == [{"key", 2}]
      :ok = PowCache.delete(@config, ["key"])
      assert PowCache.get(@config, "key") == :not_found
    end

    test "binary keys are stored as their raw bytes; keys starting with NUL too" do
      :ok = PowCache.put(@config, {"session-token", :a})
      :ok = PowCache.put(@config, {<<0, 1, 131>>, :nul})
      :ok = PowCache.put(@config, {[<<0, 1>>, :x], :list})
      {:ok, raw} = TTLKV.keys(PowCache.store(), "pow:test")
      assert "session-token" in raw
      assert PowCache.get(@config, <<0, 1, 131>>) == :nul
      assert PowCache.get(@config, [<<0, 1>>, :x]) == :list

      # Erlang term order of [key]: [<<0, 1>>, :x] < [<<0, 1, 131>>] < ["session-token"];
      # :_ is one segment, so the list key comes back only through a two-segment match.
      assert PowCache.all(@config, :_) == [{<<0, 1, 131>>, :nul}, {"session-token", :a}]

      assert PowCache.all(@config, [:_ | :_]) == [
               {[<<0, 1>>, :x], :list},
               {<<0, 1, 131>>, :nul},
               {"session-token", :a}
             ]
    end

    test "a value this VM cannot safely decode reads as :not_found, with a warning" do
      # A SMALL_ATOM_UTF8_EXT naming an atom that does not exist.
      name = "ttlkv_atom_never_created_#{System.unique_integer([:positive])}"
      etf = <<131, 119, byte_size(name), name::binary>>
      :ok = TTLKV.put(PowCache.store(), "pow:test", "bad", etf, 60_000)

      log = capture_log(fn -> assert PowCache.get(@config, "bad") == :not_found end)
      assert log =~ "not a term this VM can safely decode"
    end
  end

  describe "6. deprecated API" do
    test "put/3 and keys/1 still work; keys/1 gives every key, without values" do
      assert apply(PowCache, :put, [@config, "key", "value"]) == :ok
      assert apply(PowCache, :put, [@config, ["user", 1], "u"]) == :ok
      assert apply(PowCache, :put, [@config, [:a], "a"]) == :ok
      assert PowCache.get(@config, "key") == "value"
      # The contract of the Pow versions that call it (1.0.1 to 1.0.13): keys, of any shape.
      assert apply(PowCache, :keys, [@config]) == [:a, "key", ["user", 1]]
      assert apply(PowCache, :keys, [[namespace: "nobody"]]) == []
    end

    test "the deprecation warnings are Pow's, word for word" do
      assert PowCache.__info__(:deprecated) |> Enum.sort() == [
               {{:keys, 1}, "Use `all/2` instead"},
               {{:put, 3}, "Use `put/2` instead"}
             ]

      # As Pow's own "backwards compatible" tests check them: the warning of a compiled call.
      put_warning =
        capture_io(:stderr, fn ->
          Code.eval_quoted(
            quote do
              :ok = TTLKV.PowCache.put(unquote(@config), "key", "value")
            end
          )
        end)

      assert put_warning =~ "TTLKV.PowCache.put/3 is deprecated. Use `put/2` instead"

      keys_warning =
        capture_io(:stderr, fn ->
          Code.eval_quoted(
            quote do
              ["key"] = TTLKV.PowCache.keys(unquote(@config))
            end
          )
        end)

      assert keys_warning =~ "TTLKV.PowCache.keys/1 is deprecated. Use `all/2` instead"
    end
  end

  describe "7. config errors" do
    test "a missing :ttl raises in the caller and the store keeps running" do
      pid = Process.whereis(PowCache)

      assert_raise PowCache.ConfigError,
                   "`:ttl` configuration option is required for TTLKV.PowCache",
                   fn -> PowCache.put([namespace: "pow:test"], {"key", "value"}) end

      assert_raise PowCache.ConfigError, fn -> PowCache.put([ttl: 0], {"key", "value"}) end
      assert_raise PowCache.ConfigError, fn -> PowCache.put([ttl: "1"], {"key", "value"}) end
      assert_raise PowCache.ConfigError, fn -> PowCache.get([namespace: ""], "key") end
      assert Process.whereis(PowCache) == pid
      assert Process.alive?(pid)
      :ok = PowCache.put(@config, {"key", "value"})
      assert PowCache.get(@config, "key") == "value"
    end
  end

  describe "8. starting" do
    test "under a supervisor with an explicit directory, created 0700", %{dir: dir} do
      assert File.dir?(dir)
      assert %{mode: mode} = File.stat!(dir)
      assert Bitwise.band(mode, 0o077) == 0
      assert PowCache.store().path == dir
    end

    test "a directory it cannot use is a start error naming the path", %{dir: dir} do
      file = Path.join(dir, "not-a-directory")
      File.write!(file, "")

      assert {:error, {%PowCache.StartError{message: message, path: ^file}, _}} =
               start_supervised({PowCache, path: file, name: :pow_bad})

      assert message =~ file

      below = Path.join(file, "below")

      assert {:error, {%PowCache.StartError{message: message2}, _}} =
               start_supervised({PowCache, path: below, name: :pow_bad2})

      assert message2 =~ below
    end

    test "with invalid replication options, or a :path that is no path, it does not start" do
      for bad <- ["", nil, ~c"/tmp/x", 7] do
        assert {:error, {%PowCache.StartError{reason: :path_invalid, message: message}, _}} =
                 start_supervised({PowCache, name: :pow_badpath, path: bad})

        assert message =~ ":path must be a non-empty string"
      end

      for {key, bad} <- [
            extra_db_nodes: "a@b",
            nodes: [~c"a@b"],
            replicate: :maybe,
            replicate_timeout: 0,
            sync_on_start: -1,
            anti_entropy_interval: :never
          ] do
        assert {:error, {%PowCache.StartError{message: message, reason: {:options, [^key]}}, _}} =
                 start_supervised(
                   {PowCache, [path: tmp_dir("repl"), name: :pow_repl] ++ [{key, bad}]}
                 )

        assert message =~ inspect(key)
      end
    end

    test "calls without a running store raise", %{dir: _dir} do
      :ok = stop_supervised(PowCache)

      assert_raise PowCache.Error, ~r/not running/, fn -> PowCache.get(@config, "key") end
    end

    test "MnesiaCache's :timeout, :table_opts and :writes are accepted", %{dir: dir} do
      :ok = stop_supervised(PowCache)
      start_supervised!({PowCache, path: dir, timeout: 15_000, table_opts: [], writes: :sync})
      assert PowCache.get(@config, "key") == :not_found
    end

    test "a bare child, as Pow's docs list MnesiaCache, starts in <name>.<node> in the cwd" do
      :ok = stop_supervised(PowCache)
      cwd = mkdir_private!(tmp_dir("cwd"))
      expected = Path.join(cwd, "TTLKV.PowCache.#{node()}")

      log = capture_log(fn -> File.cd!(cwd, fn -> start_supervised!(PowCache) end) end)

      assert PowCache.store().path == expected
      assert File.dir?(expected)
      assert log =~ "[warning]"
      assert log =~ "TTLKV.PowCache opened #{expected}: no :path was given"
      assert log =~ "config :ttlkv, TTLKV.PowCache, path: dir"
      :ok = PowCache.put(@config, {"key", "bare"})

      # The same directory again from the same cwd and node: the same store.
      :ok = stop_supervised(PowCache)
      capture_log(fn -> File.cd!(cwd, fn -> start_supervised!(PowCache) end) end)
      assert PowCache.get(@config, "key") == "bare"
      :ok = stop_supervised(PowCache)

      # Another name, another directory.
      capture_log(fn -> File.cd!(cwd, fn -> start_supervised!({PowCache, name: :pow_bare}) end) end)
      assert PowCache.store(:pow_bare).path == Path.join(cwd, "pow_bare.#{node()}")
      assert PowCache.get([name: :pow_bare], "key") == :not_found
    end

    test "config :ttlkv, TTLKV.PowCache gives the default instance's start options" do
      :ok = stop_supervised(PowCache)
      from_env = tmp_dir("app-env")
      given = tmp_dir("given")
      on_exit(fn -> Application.delete_env(:ttlkv, PowCache) end)
      Application.put_env(:ttlkv, PowCache, path: from_env, durability: :periodic)

      log = capture_log([level: :warning], fn -> start_supervised!(PowCache) end)
      assert PowCache.store().path == from_env
      refute log =~ "no :path was given"
      :ok = stop_supervised(PowCache)

      # The child spec's options win over the app env's.
      start_supervised!({PowCache, path: given})
      assert PowCache.store().path == given
      :ok = stop_supervised(PowCache)

      # Instances of other names do not read it.
      start_supervised!({PowCache, name: :pow_other, path: given})
      assert PowCache.store(:pow_other).path == given
      :ok = stop_supervised(:pow_other)

      # Its options are checked as the child spec's are.
      Application.put_env(:ttlkv, PowCache, path: from_env, bogus: 1)

      assert {:error, {%PowCache.StartError{reason: {:options, [:bogus]}}, _}} =
               start_supervised(PowCache)

      Application.put_env(:ttlkv, PowCache, "/not/a/keyword/list")

      assert {:error, {%PowCache.StartError{reason: {:app_env, _}, message: message}, _}} =
               start_supervised(PowCache)

      assert message =~ "config :ttlkv, TTLKV.PowCache must be a keyword list"
    end

    test "a group-writable directory is a start error unless allow_shared_dir: true" do
      shared = mkdir_private!(tmp_dir("pow-shared"))
      File.chmod!(shared, 0o770)

      assert {:error, {%PowCache.StartError{message: message, reason: reason, path: ^shared}, _}} =
               start_supervised({PowCache, path: shared, name: :pow_shared})

      assert {:permission, _detail} = reason
      assert message =~ shared
      assert message =~ "allow_shared_dir"

      assert {:error, {%PowCache.StartError{reason: :options}, _}} =
               start_supervised({PowCache, path: shared, name: :pow_shared, allow_shared_dir: 1})

      start_supervised!({PowCache, path: shared, name: :pow_shared, allow_shared_dir: true})
      config = Keyword.put(@config, :name, :pow_shared)
      assert PowCache.put(config, {"key", "shared"}) == :ok
      assert PowCache.get(config, "key") == "shared"
      assert PowCache.store(:pow_shared).path == shared
      :ok = stop_supervised(:pow_shared)
    end
  end

  describe "restarts" do
    test "starting again at once after a stop outside a supervisor, 50 times", %{dir: dir} do
      :ok = stop_supervised(PowCache)
      # A stop the way a supervisor or a linked parent stops a child: the exit signal, without
      # waiting (the old instance still closes its store in terminate/2), or GenServer.stop.
      Process.flag(:trap_exit, true)
      {:ok, first} = PowCache.start_link(path: dir)

      last =
        Enum.reduce(1..50, first, fn i, pid ->
          :ok = PowCache.put(@config, {"round", i})

          if rem(i, 2) == 0,
            do: Process.exit(pid, :shutdown),
            else: :ok = GenServer.stop(pid)

          assert {:ok, new} = PowCache.start_link(path: dir)
          assert new != pid
          refute Process.alive?(pid)
          assert PowCache.get(@config, "round") == i
          new
        end)

      assert Process.whereis(PowCache) == last
      :ok = GenServer.stop(last)
      assert PowCache.store() == nil
    end

    test "a running instance is still :already_started, also while suspended", %{dir: dir} do
      pid = Process.whereis(PowCache)
      assert PowCache.start_link(path: dir) == {:error, {:already_started, pid}}
      :sys.suspend(pid)

      try do
        assert PowCache.start_link(path: dir) == {:error, {:already_started, pid}}
      after
        :sys.resume(pid)
      end

      assert PowCache.get(@config, "key") == :not_found
    end
  end

  describe "writes" do
    test "per-call writes: :async and :sync are accepted; a write is visible when it returns" do
      for writes <- [:async, :sync] do
        config = Keyword.put(@config, :writes, writes)
        :ok = PowCache.put(config, {"key", writes})
        # Pow's :async would not promise this yet; a synchronous write does.
        assert PowCache.get(config, "key") == writes
        :ok = PowCache.put(config, [{"a", 1}, {"b", 2}])
        assert PowCache.all(config, :_) == [{"a", 1}, {"b", 2}, {"key", writes}]
        :ok = PowCache.delete(config, "key")
        assert PowCache.get(config, "key") == :not_found
      end

      pid = Process.whereis(PowCache)

      assert_raise PowCache.ConfigError, ~r/`:writes` must be :sync or :async/, fn ->
        PowCache.put(Keyword.put(@config, :writes, :later), {"key", 1})
      end

      assert_raise PowCache.ConfigError, fn ->
        PowCache.delete(Keyword.put(@config, :writes, "async"), "key")
      end

      assert Process.whereis(PowCache) == pid
      assert PowCache.get(@config, "key") == :not_found
    end
  end

  describe "on_corruption" do
    test "with on_corruption: :reset it starts on a damaged directory, logged" do
      damaged = tmp_dir("pow-damaged")
      damaged_store!(damaged)
      config = [name: :pow_damaged, namespace: "ns", ttl: 60_000]

      log =
        capture_log(fn ->
          start_supervised!({PowCache, path: damaged, name: :pow_damaged, on_corruption: :reset})
        end)

      assert [aside] = set_aside(damaged)
      assert log =~ "#{damaged} was damaged"
      assert log =~ "moved aside to #{aside}"
      assert TTLKV.corruption_reset(PowCache.store(:pow_damaged)) == {:ok, aside}
      assert PowCache.all(config, :_) == []
      assert PowCache.get(config, "k1") == :not_found
      :ok = PowCache.put(config, {"k1", :after_reset})
      assert PowCache.get(config, "k1") == :after_reset
    end

    test "reset is the default; on_corruption: :error makes the start fail, untouched" do
      damaged = tmp_dir("pow-damaged-default")
      data = damaged_store!(damaged)
      bytes = File.read!(data)

      assert {:error, {%PowCache.StartError{reason: reason, path: ^damaged, message: m}, _}} =
               start_supervised({PowCache, path: damaged, name: :pow_dmg, on_corruption: :error})

      assert {:corrupted, _detail} = reason
      assert m =~ damaged
      assert File.read!(data) == bytes
      assert set_aside(damaged) == []

      log = capture_log(fn -> start_supervised!({PowCache, path: damaged, name: :pow_dmg}) end)
      assert [aside] = set_aside(damaged)
      assert log =~ "moved aside to #{aside}"
      assert PowCache.all([name: :pow_dmg, namespace: "ns"], :_) == []

      assert {:error, {%PowCache.StartError{reason: :options}, _}} =
               start_supervised({PowCache, path: damaged, name: :pow_dmg2, on_corruption: :drop})
    end
  end

  describe "callers reach the store directly" do
    test "1,000 processes put, get and delete in parallel without the owner's mailbox" do
      owner = Process.whereis(PowCache)
      :sys.suspend(owner)

      try do
        tasks =
          for i <- 1..1_000 do
            Task.async(fn ->
              config = Keyword.put(@config, :namespace, "p#{rem(i, 7)}")
              :ok = PowCache.put(config, {["user", i], %{i: i}})
              %{i: ^i} = PowCache.get(config, ["user", i])
              :ok = PowCache.put(config, [{["session", i, 1], 1}, {["session", i, 2], 2}])
              :ok = PowCache.delete(config, ["session", i, 1])
              [{["session", ^i, 2], 2}] = PowCache.all(config, ["session", i, :_])
              :ok
            end)
          end

        assert Enum.all?(Task.await_many(tasks, 60_000), &(&1 == :ok))
      after
        :sys.resume(owner)
      end

      total =
        for n <- 0..6,
            reduce: 0,
            do: (acc -> acc + length(PowCache.all([namespace: "p#{n}"], ["user", :_])))

      assert total == 1_000
    end
  end
end
