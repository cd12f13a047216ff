defmodule TTLKV.TestHelpers do
  @moduledoc false
  # Shared by the test modules: temporary directories, bounded polling, other OS processes.

  import Bitwise
  import ExUnit.Assertions

  @root Path.expand("../../../..", __DIR__)

  @doc "A fresh directory path (not created) under the system tmp dir, removed after the test."
  def tmp_dir(context_or_name \\ "t") do
    name =
      case context_or_name do
        %{test: test} -> test |> to_string() |> String.replace(~r/[^A-Za-z0-9]+/, "_")
        other -> to_string(other)
      end

    dir =
      Path.join(
        System.tmp_dir!(),
        "ttlkv-ex-#{String.slice(name, 0, 60)}-#{System.unique_integer([:positive])}"
      )

    ExUnit.Callbacks.on_exit(fn -> File.rm_rf(dir) end)
    dir
  end

  @doc """
  Creates `dir` with mode 0700 whatever the umask, and returns it. A store directory a test
  makes itself must be made this way: `File.mkdir_p!/1` under a umask of 002 gives 0775,
  which `TTLKV.open/2` refuses by default (group-writable). Most tests let the store create
  its directory (always 0700) from a `tmp_dir/1` path instead.
  """
  def mkdir_private!(dir) do
    File.mkdir_p!(dir)
    File.chmod!(dir, 0o700)
    dir
  end

  @doc """
  Makes `dir` a store with a few entries (namespace "ns"), closes it, and damages it the way
  lost writes can after a power loss: `data.mdb` cut to 8209 bytes (its two meta pages and a
  little more), so the pages the last commit names are gone. Returns the path of `data.mdb`.
  Directories an `on_corruption: :reset` open moves it to are removed after the test.
  """
  def damaged_store!(dir) do
    {:ok, s} = TTLKV.open(dir)
    :ok = TTLKV.put_many(s, "ns", for(i <- 1..5, do: {"k#{i}", "v#{i}"}), 3_600_000)
    :ok = TTLKV.close(s)

    data = Path.join(dir, "data.mdb")
    assert File.stat!(data).size > 8209
    {:ok, f} = :file.open(data, [:read, :write, :binary, :raw])
    {:ok, 8209} = :file.position(f, 8209)
    :ok = :file.truncate(f)
    :ok = :file.close(f)

    ExUnit.Callbacks.on_exit(fn ->
      dir |> Kernel.<>(".corrupted-*") |> Path.wildcard() |> Enum.each(&File.rm_rf/1)
    end)

    data
  end

  @doc "The directories a reset moved `dir` to (`<dir>.corrupted-<unix ms>`)."
  def set_aside(dir), do: Path.wildcard(dir <> ".corrupted-*")

  @doc """
  Polls `fun` every `interval` ms until it returns a truthy value, for at most `timeout` ms;
  fails the test otherwise. Returns the truthy value.
  """
  def wait_until(fun, timeout \\ 5_000, interval \\ 5) do
    deadline = System.monotonic_time(:millisecond) + timeout
    do_wait(fun, deadline, interval)
  end

  defp do_wait(fun, deadline, interval) do
    case fun.() do
      result when result not in [nil, false] ->
        result

      _ ->
        if System.monotonic_time(:millisecond) > deadline do
          flunk("condition not met in time")
        else
          Process.sleep(interval)
          do_wait(fun, deadline, interval)
        end
    end
  end

  @doc "Runs Elixir `code` in a new OS process with this project's compiled code on its path."
  def run_elixir(code) do
    ebin = Mix.Project.compile_path()
    elixir = System.find_executable("elixir") || flunk("elixir not on PATH")
    System.cmd(elixir, ["-pa", ebin, "-e", code], stderr_to_stdout: true)
  end

  @doc "The repository root (bindings/elixir is two levels below it)."
  def root, do: @root

  @doc "libttlkv.a, as the compiler task found it."
  def static_lib do
    case System.get_env("TTLKV_LIB_DIR") do
      dir when dir not in [nil, ""] -> Path.join(dir, "libttlkv.a")
      _ -> Path.join([@root, "target", "release", "libttlkv.a"])
    end
  end

  def include_dir, do: System.get_env("TTLKV_INCLUDE_DIR") || Path.join(@root, "include")

  @doc "Builds test/support/ttlkv_probe.c against the header and the static library."
  def build_probe do
    out = Path.join(Mix.Project.build_path(), "ttlkv_probe")
    src = Path.expand("ttlkv_probe.c", __DIR__)
    cc = System.get_env("CC") || "cc"

    args =
      ["-std=c11", "-O1", "-Wall", "-Wextra", "-Werror", "-I", include_dir(), src, static_lib()] ++
        ["-o", out, "-lpthread", "-ldl", "-lm"]

    {output, status} = System.cmd(cc, args, stderr_to_stdout: true)
    assert status == 0, "building the C probe failed:\n#{output}"
    out
  end

  def hex(bin), do: Base.encode16(bin, case: :lower)

  @doc """
  Pow keys of many shapes, for `TTLKV.PowCache.all/2` and `Key.match_prefix/1`: Pow's
  CredentialsCache triples (a session id, `[struct, :user, id]`,
  `[struct, :user, id, :session, sid]`) for ids of every kind, and keys built to trip a byte
  prefix up: lists of byte integers (written as strings by the external term format), floats,
  maps, improper lists, one-element lists, binaries with and without the escape byte.
  """
  def pow_keys do
    struct = MyApp.Users.User
    ids = [1, 2, 255, 256, -1, 1 <<< 40, "uuid-1", [id: 7, org: 2], {:composite, 1}]

    credentials =
      for id <- ids, n <- 1..2 do
        sid = "session-#{:erlang.phash2({id, n})}"
        [sid, [struct, :user, id], [struct, :user, id, :session, sid]]
      end

    Enum.uniq(Enum.concat(credentials)) ++
      [
        [Other.User, :user, 1],
        [Other.User, :user, 1, :session, "s"],
        [1, 2, 3],
        [1, 2, "x"],
        [1, 2],
        [1, 2, 3, 4],
        [1, 300, 3],
        [:a],
        [7],
        [{:t, 1}],
        [[2]],
        :b,
        [<<0, 1>>, :x],
        <<0, 1, 131>>,
        <<0>>,
        "",
        "plain",
        ["user", 1],
        ["user", 2],
        ["user", 1, "session"],
        ["user" | "tail"],
        [1.0, :x],
        [1, :x],
        [0.0, :y],
        [-0.0, :y],
        [%{a: 1}, :m],
        [%{a: 1, b: 2}, :m],
        [[1, 2], :nested],
        [{:t, [1]}, :nested]
      ]
  end

  @doc "Match heads over `pow_keys/0`: with and without a byte prefix of bound segments."
  def pow_matches do
    struct = MyApp.Users.User

    [
      :_,
      [struct, :user, 1, :session, :_],
      [struct, :user, :_],
      [struct, :user, :_, :session, :_],
      [struct | :_],
      [struct, :user, "uuid-1", :session, :_],
      [struct, :user, [id: 7, org: 2], :session, :_],
      [struct, :user, {:composite, 1}, :session, :_],
      [struct, :user, 1 <<< 40, :session, :_],
      [struct, :user, 256, :_, :_],
      [struct, :user, -1, :session, :_],
      [struct, :"$1", 1, :session, :"$2"],
      [struct, :user, :"$1"],
      [Other.User, :user, 1, :session, :_],
      [1, 2, :_],
      [1, :_, :_],
      [1, 2, 3],
      [1, :x],
      [:a],
      :a,
      :b,
      [<<0, 1>>, :_],
      <<0, 1, 131>>,
      "plain",
      ["user", :_],
      ["user", 1, :_],
      ["user" | :_],
      [1.0, :_],
      [0.0, :_],
      [%{a: 1}, :_],
      [[1, 2], :_],
      [{:t, [1]}, :_],
      [{:t, :_}, :_],
      [:nobody, :_]
    ]
  end
end
