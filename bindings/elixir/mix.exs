defmodule Mix.Tasks.Compile.TtlkvNif do
  @moduledoc """
  Builds `priv/ttlkv_nif.so`: the Rust static library with cargo, then `c_src/ttlkv_nif.c`
  compiled against `include/ttlkv.h` with the static library linked in.

  It lives in `mix.exs` because a compiler of the project itself must exist before the project
  compiles, and we take no hex dependency (no elixir_make).

  Environment:
    * `TTLKV_LIB_DIR` - a directory holding a prebuilt `libttlkv.a`; cargo is then not run.
    * `TTLKV_INCLUDE_DIR` - the directory of `ttlkv.h` (default: `include/` at the repo root).
    * `CARGO`, `CC` - the tools (default `cargo`, `cc`).
  """
  use Mix.Task.Compiler

  @root Path.expand("../..", __DIR__)

  @impl true
  def run(_args) do
    with {:ok, lib_a} <- static_lib(),
         :ok <- compile_nif(lib_a) do
      # Links priv/ into _build even when priv/ was created just now, so the NIF loads when
      # the compiler loads TTLKV.NIF.
      Mix.Project.build_structure()
      {:ok, []}
    else
      {:error, message} -> failed(message)
    end
  catch
    {:ttlkv_error, message} -> failed(message)
  end

  defp failed(message) do
    Mix.shell().error("ttlkv: " <> message)
    {:error, [diagnostic(message)]}
  end

  @impl true
  def clean do
    File.rm_rf(Path.join(priv_dir(), "ttlkv_nif.so"))
    :ok
  end

  defp priv_dir, do: Path.join(File.cwd!(), "priv")

  defp static_lib do
    case System.get_env("TTLKV_LIB_DIR") do
      dir when dir not in [nil, ""] ->
        found(Path.join(Path.expand(dir), "libttlkv.a"))

      _ ->
        cargo = System.get_env("CARGO") || "cargo"

        unless System.find_executable(cargo) do
          throw_error("#{cargo} not found: install Rust (rustup) to build libttlkv.a")
        end

        Mix.shell().info("ttlkv: cargo build --release --lib in #{@root}")

        {_, status} =
          System.cmd(cargo, ["build", "--release", "--lib"],
            cd: @root,
            env: [{"LIBLMDB_NO_PKG_CONFIG", "1"}],
            into: IO.stream(:stdio, :line),
            stderr_to_stdout: true
          )

        if status == 0 do
          found(Path.join([@root, "target", "release", "libttlkv.a"]))
        else
          {:error, "cargo build --release --lib failed (exit #{status})"}
        end
    end
  end

  defp found(path) do
    if File.regular?(path), do: {:ok, path}, else: {:error, "#{path} does not exist"}
  end

  defp throw_error(message), do: throw({:ttlkv_error, message})

  defp compile_nif(lib_a) do
    include_dir = System.get_env("TTLKV_INCLUDE_DIR") || Path.join(@root, "include")
    header = Path.join(include_dir, "ttlkv.h")
    source = Path.join(File.cwd!(), "c_src/ttlkv_nif.c")
    out = Path.join(priv_dir(), "ttlkv_nif.so")
    cc = System.get_env("CC") || "cc"

    cond do
      not File.regular?(header) ->
        {:error, "#{header} does not exist (set TTLKV_INCLUDE_DIR?)"}

      true ->
        File.mkdir_p!(priv_dir())

        # The Rust archive's own symbols stay private to the NIF.
        args =
          ["-std=c11", "-O2", "-g", "-fPIC", "-shared"] ++
            ["-Wall", "-Wextra", "-Werror"] ++
            ["-I", erts_include(), "-I", include_dir] ++
            [source, lib_a, "-o", out] ++
            ["-Wl,--exclude-libs,ALL", "-Wl,--gc-sections"] ++
            ["-lpthread", "-ldl", "-lm"]

        # The command is part of what is built: another library or header path relinks.
        stamp = out <> ".cmd"
        command = Enum.join([cc | args], " ")

        if up_to_date?(out, [source, header, lib_a, __ENV__.file]) and
             File.read(stamp) == {:ok, command} do
          :ok
        else
          cc_compile(cc, args, command, stamp, source)
        end
    end
  end

  defp cc_compile(cc, args, command, stamp, source) do
    if System.find_executable(cc) == nil do
      {:error, "#{cc} not found: install a C compiler (apt-get install gcc)"}
    else
      Mix.shell().info("ttlkv: #{command}")

      case System.cmd(cc, args, stderr_to_stdout: true) do
        {output, 0} ->
          IO.write(output)
          File.write!(stamp, command)
          :ok

        {output, status} ->
          IO.write(output)
          File.rm(stamp)
          {:error, "compiling #{source} failed (exit #{status})"}
      end
    end
  end

  defp up_to_date?(out, inputs) do
    case File.stat(out, time: :posix) do
      {:ok, %{mtime: out_time}} ->
        Enum.all?(inputs, fn input ->
          case File.stat(input, time: :posix) do
            {:ok, %{mtime: t}} -> t <= out_time
            _ -> false
          end
        end)

      _ ->
        false
    end
  end

  defp erts_include do
    root = List.to_string(:code.root_dir())
    erts = Path.join([root, "erts-#{:erlang.system_info(:version)}", "include"])

    cond do
      File.regular?(Path.join(erts, "erl_nif.h")) ->
        erts

      File.regular?(Path.join([root, "usr", "include", "erl_nif.h"])) ->
        Path.join([root, "usr", "include"])

      true ->
        throw_error("erl_nif.h not found under #{root}: install erlang-dev")
    end
  end

  defp diagnostic(message) do
    %Mix.Task.Compiler.Diagnostic{
      compiler_name: "ttlkv_nif",
      file: Path.join(File.cwd!(), "c_src/ttlkv_nif.c"),
      message: message,
      position: nil,
      severity: :error
    }
  end
end

defmodule TTLKV.MixProject do
  use Mix.Project

  def project do
    [
      app: :ttlkv,
      version: "0.1.0",
      elixir: "~> 1.14",
      compilers: [:ttlkv_nif] ++ Mix.compilers(),
      elixirc_paths: elixirc_paths(Mix.env()),
      start_permanent: Mix.env() == :prod,
      deps: [],
      docs: [main: "readme", extras: ["README.md"]]
    ]
  end

  def application do
    [extra_applications: [:logger]]
  end

  defp elixirc_paths(:test), do: ["lib", "test/support"]
  defp elixirc_paths(_), do: ["lib"]
end
