defmodule TTLKV.PowCache.Key do
  @moduledoc """
  How `TTLKV.PowCache` turns a Pow key into the bytes stored in ttlkv, and back.

  Pow keys are a binary (`"abc"`) or a list of terms (`["user", 1, "session"]`), and Pow treats
  `key` and `[key]` as the same key. The encoding:

  | Pow key | stored bytes |
  |---|---|
  | a binary `b` (or `[b]`) whose first byte is not `0x00`, or `""` | `b` itself |
  | a binary `b` (or `[b]`) whose first byte is `0x00` | `<<0x00, 0x00>> <> b` |
  | any other list `l` | `<<0x00, 0x01>> <> :erlang.term_to_binary(l, [minor_version: 2, :deterministic])` |

  Why this shape:

    * A binary key is stored as its raw bytes, so a C or Python program using the same
      namespace sees (and can write) the same key.
    * The byte `0x00` is reserved as an escape. It cannot start a raw key without an escape,
      so a raw binary key never shares bytes with a list key, and two different keys never
      share bytes: `0x00 0x00 ...` is always an escaped binary, `0x00 0x01 ...` always a list.
      Session tokens, ids and UUID strings never start with NUL, so in practice every binary
      key is stored as-is.
    * `[b]` with `b` a binary is normalized to `b` before encoding, so both spell one entry.
    * `term_to_binary` is pinned to `minor_version: 2` (UTF-8 atoms, the OTP 26 default) and
      `:deterministic`, so the same list gives the same bytes across OTP releases.

  Bytes that do not follow this scheme (another program writing `<<0x00>>` or
  `<<0x00, 0x07, ...>>` into a PowCache namespace) decode as the raw binary they are; `all/2`
  still lists them, but a `get` with that binary addresses its escaped form. A list key
  (`<<0x00, 0x01, ...>>`) that `binary_to_term(_, [:safe])` refuses, because it is no external
  term format or because it names an atom this node has never seen (one a replicating peer's
  code made), is not listed by `all/2`: it cannot be matched safely. Pow's keys name atoms of
  the application's code, which every node of it has loaded. (An `all/2` whose
  match has bound leading segments reads only the keys that start with those segments'
  encoding, see `match_prefix/1`: another program's different external term format of the same
  list, compressed say, is not listed then, as `get` does not find it either.)

  Order: `all/2` returns keys in Erlang term order of their list form (`b` as `[b]`), the order
  Pow's `ordered_set` table gives.
  """

  @escape 0x00
  @tag_binary 0x00
  @tag_list 0x01
  @etf_opts [{:minor_version, 2}, :deterministic]
  # The external term format's tag of a list with its length (LIST_EXT).
  @list_ext 108

  @typedoc "A Pow key: a binary, or a list whose elements are binaries, atoms or other terms."
  @type t :: binary() | list()

  @doc """
  The stored bytes of a Pow key.

      iex> TTLKV.PowCache.Key.encode("session-abc")
      "session-abc"
      iex> TTLKV.PowCache.Key.encode(["session-abc"])
      "session-abc"
      iex> TTLKV.PowCache.Key.encode(<<0, 1>>)
      <<0, 0, 0, 1>>
      iex> <<0, 1, _etf::binary>> = TTLKV.PowCache.Key.encode(["user", 1])
  """
  @spec encode(t()) :: binary()
  def encode(<<@escape, _::binary>> = key), do: <<@escape, @tag_binary, key::binary>>
  def encode(key) when is_binary(key), do: key
  def encode([key]) when is_binary(key), do: encode(key)

  def encode(key) when is_list(key),
    do: <<@escape, @tag_list, :erlang.term_to_binary(key, @etf_opts)::binary>>

  # Pow builds its table key with List.wrap/1: any other term is a one-element list key.
  def encode(key), do: encode(List.wrap(key))

  @doc """
  The Pow key of stored bytes (the inverse of `encode/1`).

      iex> TTLKV.PowCache.Key.decode(TTLKV.PowCache.Key.encode(["user", :id, 7]))
      ["user", :id, 7]
      iex> TTLKV.PowCache.Key.decode(<<0, 0, 0, 1>>)
      <<0, 1>>
  """
  @spec decode(binary()) :: t()
  def decode(<<@escape, @tag_binary, @escape, _::binary>> = bytes),
    do: binary_part(bytes, 2, byte_size(bytes) - 2)

  def decode(<<@escape, @tag_list, etf::binary>> = bytes) do
    case safe_term(etf) do
      {:ok, list} when is_list(list) -> list
      _ -> bytes
    end
  end

  def decode(bytes) when is_binary(bytes), do: bytes

  @doc """
  The bytes every stored key that `key_match` (a match-spec head of `TTLKV.PowCache.all/2`)
  can match starts with, when its bound leading segments fix them: `{:ok, prefix}`, else
  `:none`. `all/2` then scans that prefix instead of decoding the whole namespace.

  A list key is `0x00 0x01` ++ its external term format, which writes a list as `LIST_EXT`
  (tag 108, then the number of elements as 32 bits), then each element in turn, each encoded
  by its own value alone. So when `key_match` is a proper list of a fixed length whose first
  elements are bound, every key it matches starts with the escape, the list header and the
  encoding of those elements. There is no such prefix (`:none`) when

    * nothing leads bound: `:_`, `[:_, :session]`, `[:"$1", :user]`;
    * the tail is open (`["user" | :_]`): the length comes before the elements, and differs;
    * every bound element is an integer 0..255: a matching list whose other elements are such
      integers too is written as `STRING_EXT` (tag 107), not `LIST_EXT`;
    * the match is one binary (`"key"`, `["key"]`): that key is stored as its raw bytes.

  Only plain values count as bound: binaries, integers, atoms other than `:_` and the
  `:"$1"`-style variables, and tuples and proper lists of them. A map pattern also matches larger maps and a float
  matches by value across encodings (`0.0`, `-0.0`), so from the first of those on the
  segments count as unbound.

      iex> {:ok, prefix} = TTLKV.PowCache.Key.match_prefix([MyApp.User, :user, 1, :session, :_])
      iex> key = TTLKV.PowCache.Key.encode([MyApp.User, :user, 1, :session, "s"])
      iex> String.starts_with?(key, prefix)
      true
      iex> TTLKV.PowCache.Key.match_prefix(["user" | :_])
      :none
  """
  @spec match_prefix(term()) :: {:ok, binary()} | :none
  def match_prefix(key_match) do
    pattern = List.wrap(key_match)

    with {:ok, length} <- proper_length(pattern, 0),
         [first | _] = bound <- Enum.take_while(pattern, &bound?/1),
         false <- length == 1 and is_binary(first),
         false <- Enum.all?(bound, &(is_integer(&1) and &1 in 0..255)) do
      header = <<@escape, @tag_list, 131, @list_ext, length::32>>
      {:ok, IO.iodata_to_binary([header | Enum.map(bound, &element/1)])}
    else
      _ -> :none
    end
  end

  defp proper_length([], n), do: {:ok, n}
  defp proper_length([_ | tail], n), do: proper_length(tail, n + 1)
  defp proper_length(_open_tail, _n), do: :error

  # A segment that matches exactly the terms equal to it, all of which encode to its bytes.
  defp bound?(term) when is_bitstring(term) or is_integer(term), do: true

  defp bound?(term) when is_atom(term),
    do: term != :_ and not String.starts_with?(Atom.to_string(term), "$")

  defp bound?(term) when is_tuple(term), do: term |> Tuple.to_list() |> Enum.all?(&bound?/1)

  defp bound?(term) when is_list(term),
    do: match?({:ok, _}, proper_length(term, 0)) and Enum.all?(term, &bound?/1)

  defp bound?(_term), do: false

  # One element's bytes inside the list's external term format (without the version byte).
  defp element(term) do
    <<131, bytes::binary>> = :erlang.term_to_binary(term, @etf_opts)
    bytes
  end

  defp safe_term(etf) do
    {:ok, :erlang.binary_to_term(etf, [:safe])}
  rescue
    ArgumentError -> :error
  end

  @doc """
  The key as Pow's table sees it: a list (`b` becomes `[b]`). Used for matching and ordering.
  """
  @spec list_form(t()) :: list()
  def list_form(key) when is_binary(key), do: [key]
  def list_form(key) when is_list(key), do: key

  @doc """
  The key as Pow returns it from `all/2`: a one-element list is unwrapped.
  """
  @spec unwrap(list()) :: t()
  def unwrap([key]), do: key
  def unwrap(key) when is_list(key), do: key
end
