defmodule TTLKV.NIF do
  @moduledoc false
  # The raw NIF (c_src/ttlkv_nif.c). Use `TTLKV`; these functions take the resource directly.

  require Logger

  @on_load :load_nif

  # The C ABI version this module and the shim were written for (TTLKV_ABI_VERSION).
  @abi_version 1
  # Load failure codes of c_src/ttlkv_nif.c's on_load.
  @load_err_abi_base 0x10000
  @load_err_resource 2
  @load_err_load_info 3
  @load_err_stats 4

  def abi_version_expected, do: @abi_version

  @doc false
  def load_nif do
    case :code.priv_dir(:ttlkv) do
      {:error, reason} ->
        Logger.error("ttlkv: cannot find the priv directory of :ttlkv (#{inspect(reason)})")
        {:error, reason}

      priv ->
        path = :filename.join(priv, ~c"ttlkv_nif")

        case :erlang.load_nif(path, @abi_version) do
          :ok ->
            :ok

          {:error, {kind, text}} = error ->
            Logger.error("ttlkv: the NIF did not load: #{explain(kind, to_string(text))}")
            error
        end
    end
  end

  @doc false
  # OTP reports a failing load callback as {:load, 'Library load-call unsuccessful (N).'}.
  def explain(kind, text) when kind in [:load, :load_failed] do
    case Regex.run(~r/\((\d+)\)/, text) do
      [_, code] -> explain_code(String.to_integer(code), text)
      _ -> text
    end
  end

  def explain(_kind, text), do: text

  defp explain_code(code, _text) when code >= @load_err_abi_base do
    "libttlkv has C ABI version #{code - @load_err_abi_base}, but this binding " <>
      "and its ttlkv.h are for ABI version #{@abi_version}; rebuild the binding against the library"
  end

  defp explain_code(@load_err_resource, _), do: "could not create the ttlkv_store resource type"

  defp explain_code(@load_err_load_info, _),
    do: "TTLKV.NIF expects ABI #{@abi_version} but the shim was compiled for another"

  defp explain_code(@load_err_stats, _),
    do: "could not allocate the table of the library's counters (ttlkv_stat_name)"

  defp explain_code(_, text), do: text

  def abi_version, do: :erlang.nif_error(:nif_not_loaded)
  def version, do: :erlang.nif_error(:nif_not_loaded)
  def status_str(_code), do: :erlang.nif_error(:nif_not_loaded)
  def live_stores, do: :erlang.nif_error(:nif_not_loaded)
  def stat_name(_which), do: :erlang.nif_error(:nif_not_loaded)
  def max_key_len(_store, _ns), do: :erlang.nif_error(:nif_not_loaded)
  def corruption_reset(_store), do: :erlang.nif_error(:nif_not_loaded)
  def open(_path, _opts), do: :erlang.nif_error(:nif_not_loaded)
  def close(_store), do: :erlang.nif_error(:nif_not_loaded)
  def put(_store, _ns, _key, _value, _ttl), do: :erlang.nif_error(:nif_not_loaded)
  def put_many(_store, _ns, _records, _ttl), do: :erlang.nif_error(:nif_not_loaded)
  def get(_store, _ns, _key), do: :erlang.nif_error(:nif_not_loaded)
  def get_dirty(_store, _ns, _key), do: :erlang.nif_error(:nif_not_loaded)
  def delete(_store, _ns, _key), do: :erlang.nif_error(:nif_not_loaded)
  def deadline(_store, _ns, _key), do: :erlang.nif_error(:nif_not_loaded)
  def keys(_store, _ns), do: :erlang.nif_error(:nif_not_loaded)
  def entries(_store, _ns), do: :erlang.nif_error(:nif_not_loaded)
  def flush(_store), do: :erlang.nif_error(:nif_not_loaded)
  def purge_expired(_store), do: :erlang.nif_error(:nif_not_loaded)
  def stats(_store), do: :erlang.nif_error(:nif_not_loaded)
  def verify(_store), do: :erlang.nif_error(:nif_not_loaded)
  def max_keys_per_call, do: :erlang.nif_error(:nif_not_loaded)
  def touch(_store, _ns, _key, _ttl), do: :erlang.nif_error(:nif_not_loaded)
  def add(_store, _ns, _key, _value, _ttl), do: :erlang.nif_error(:nif_not_loaded)
  def incr(_store, _ns, _key, _delta, _create), do: :erlang.nif_error(:nif_not_loaded)
  def take(_store, _ns, _key), do: :erlang.nif_error(:nif_not_loaded)
  def get_versioned(_store, _ns, _key), do: :erlang.nif_error(:nif_not_loaded)

  def put_if_version(_store, _ns, _key, _value, _ttl, _expected),
    do: :erlang.nif_error(:nif_not_loaded)

  def get_many(_store, _ns, _keys), do: :erlang.nif_error(:nif_not_loaded)
  def delete_many(_store, _ns, _keys), do: :erlang.nif_error(:nif_not_loaded)
  def clear(_store, _ns), do: :erlang.nif_error(:nif_not_loaded)
  def count(_store, _ns), do: :erlang.nif_error(:nif_not_loaded)
  def namespaces(_store), do: :erlang.nif_error(:nif_not_loaded)
  def scan(_store, _ns, _prefix, _after, _limit), do: :erlang.nif_error(:nif_not_loaded)
  # scan/5 with each value decoded as binary_to_term(v, [:safe]): {key, term}, or {key}.
  def scan_terms(_store, _ns, _prefix, _after, _limit), do: :erlang.nif_error(:nif_not_loaded)
  def set_max_bytes(_store, _bytes, _eviction), do: :erlang.nif_error(:nif_not_loaded)
  def max_bytes(_store), do: :erlang.nif_error(:nif_not_loaded)
  def backup(_store, _dest, _compact), do: :erlang.nif_error(:nif_not_loaded)
  def origin(_store), do: :erlang.nif_error(:nif_not_loaded)
  def set_replicated(_store, _on), do: :erlang.nif_error(:nif_not_loaded)
  def replicated(_store), do: :erlang.nif_error(:nif_not_loaded)
  def records(_store, _keys), do: :erlang.nif_error(:nif_not_loaded)
  def put_records(_store, _ns, _key, _value, _ttl), do: :erlang.nif_error(:nif_not_loaded)
  def delete_records(_store, _ns, _key), do: :erlang.nif_error(:nif_not_loaded)
  def merge(_store, _records), do: :erlang.nif_error(:nif_not_loaded)
  def digest(_store, _buckets, _cutoff), do: :erlang.nif_error(:nif_not_loaded)
  def versions(_store, _buckets, _which, _cutoff), do: :erlang.nif_error(:nif_not_loaded)
  def bucket_records(_store, _buckets, _which, _cutoff), do: :erlang.nif_error(:nif_not_loaded)
end
