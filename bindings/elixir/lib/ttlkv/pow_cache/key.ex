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
  still lists them, but a `get` with that binary addresses its escaped form.

  Order: `all/2` returns keys in Erlang term order of their list form (`b` as `[b]`), the order
  Pow's `ordered_set` table gives.
  """

  @escape 0x00
  @tag_binary 0x00
  @tag_list 0x01
  @etf_opts [{:minor_version, 2}, :deterministic]

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
