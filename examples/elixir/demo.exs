# ttlkv from Elixir: the plain TTLKV API, then TTLKV.PowCache as Pow would use it.
#
#   cd bindings/elixir && TTLKV_DEMO_DIR=/tmp/ttlkv-demo mix run ../../examples/elixir/demo.exs
#
# The store directory is $TTLKV_DEMO_DIR: the C and Python demos use the same one, so what
# they wrote in the "demo" namespace shows up here (and what this writes shows up there).

Logger.configure(level: :warning)

dir =
  case System.get_env("TTLKV_DEMO_DIR") do
    dir when dir not in [nil, ""] -> dir
    _ -> Path.join(System.tmp_dir!(), "ttlkv-elixir-demo-#{System.os_time(:millisecond)}")
  end

printable = fn bin ->
  if String.printable?(bin), do: inspect(bin), else: "<<" <> Base.encode16(bin) <> ">>"
end

IO.puts("#{TTLKV.version()} (C ABI #{TTLKV.abi_version()}), store at #{dir}")
{:ok, store} = TTLKV.open(dir)

# Keys and values are plain bytes, TTLs milliseconds.
:ok = TTLKV.put(store, "demo", "elixir", "hello from Elixir", :timer.hours(1))
:ok = TTLKV.put_many(store, "demo", [{"elixir:a", "1"}, {"elixir:b", "2"}], :timer.minutes(5))
:ok = TTLKV.put(store, "demo", "elixir:short", "gone soon", 200)
{:ok, "hello from Elixir"} = TTLKV.get(store, "demo", "elixir")

IO.puts("\nnamespace \"demo\" (every language's entries):")
{:ok, keys} = TTLKV.keys(store, "demo")

for key <- keys do
  case {TTLKV.get(store, "demo", key), TTLKV.deadline(store, "demo", key)} do
    {{:ok, value}, {:ok, deadline}} ->
      left =
        if deadline == :infinity,
          do: "never expires",
          else: "expires in #{deadline - System.os_time(:millisecond)} ms"

      IO.puts("  #{printable.(key)} => #{printable.(value)} (#{left})")

    _ ->
      IO.puts("  #{printable.(key)} expired while we looked")
  end
end

# An expired entry is never returned, whether or not the expiry thread has removed it yet.
{:ok, deadline} = TTLKV.deadline(store, "demo", "elixir:short")
wait = max(deadline - System.os_time(:millisecond) + 1, 0)
Process.sleep(wait)
:not_found = TTLKV.get(store, "demo", "elixir:short")
IO.puts("\n\"elixir:short\" is gone right after its deadline")

:ok = TTLKV.delete(store, "demo", "elixir:a")
{:error, {:ttl_invalid, detail}} = TTLKV.put(store, "demo", "x", "y", 0)
IO.puts("a TTL of 0 is refused: #{detail}")

# Cache operations, named as in Rust, C and Python: a counter (ASCII decimal, so the other
# demos read it), a write only if absent, one page of the keys under a prefix.
{:ok, hits} = TTLKV.incr(store, "demo", "elixir:hits", 1, create: :timer.hours(1))
{:ok, added} = TTLKV.add(store, "demo", "elixir:lock", "held", 5_000)
{:ok, page} = TTLKV.scan(store, "demo", "elixir:", nil, 10)
IO.puts("elixir:hits is #{hits}; elixir:lock #{if added, do: "taken now", else: "was held"}")
IO.puts("keys under \"elixir:\": #{inspect(Enum.map(page, &elem(&1, 0)))}")
:ok = TTLKV.close(store)
{:error, :closed} = TTLKV.get(store, "demo", "elixir")

# Pow: the cache store backend. In an app: children = [{TTLKV.PowCache, path: dir}] (or a
# bare TTLKV.PowCache, in TTLKV.PowCache.<node> in the working directory) and
# `cache_store_backend: TTLKV.PowCache` in the Pow config.
{:ok, _pid} = TTLKV.PowCache.start_link(path: dir)
config = [namespace: "credentials", ttl: :timer.minutes(30)]
user = %{id: 1, email: "user@example.com"}
:ok = TTLKV.PowCache.put(config, [{"session-token-1", {user, []}}, {[user.id, "session-token-1"], true}])
{^user, []} = TTLKV.PowCache.get(config, "session-token-1")
IO.puts("\nPowCache all(config, [1, :_]): #{inspect(TTLKV.PowCache.all(config, [1, :_]))}")
# As in Pow, :_ is one segment: the two-segment key [1, "session-token-1"] is not in it.
[{"session-token-1", {^user, []}}] = TTLKV.PowCache.all(config, :_)
:ok = TTLKV.PowCache.delete(config, "session-token-1")
:not_found = TTLKV.PowCache.get(config, "session-token-1")
IO.puts("PowCache: put, get, all and delete ok")
