/** A long-running operation's decoder, as google-gax keeps it on a client's descriptors. */
type Decoder = (bytes: Uint8Array) => unknown;

interface LroDescriptor {
  responseDecoder?: Decoder;
  metadataDecoder?: Decoder;
}

/** The protobufjs Type of a decoded message: protobufjs sets `$type` on each type's prototype. */
interface DecodedType {
  decode: Decoder;
}

function typeOf(message: unknown): DecodedType | undefined {
  if (typeof message !== 'object' || message === null) return undefined;
  const type = (Object.getPrototypeOf(message) as { $type?: unknown } | null)?.$type;
  if (typeof type !== 'object' || type === null) return undefined;
  // After its first decode, protobufjs puts the type's generated decoder on the instance itself.
  return Object.hasOwn(type, 'decode') && typeof (type as DecodedType).decode === 'function'
    ? (type as DecodedType)
    : undefined;
}

/**
 * The generated Cloud Run clients build each LRO descriptor with `type.decode.bind(type)`. That
 * binds protobufjs's `decode_setup`, which regenerates the type's encoder, decoder, verifier and
 * converters (`new Function` each) before every decode, so each `runJob` answer recompiled the
 * whole `Execution` codec: about a millisecond of CPU and fresh code-space garbage per call. This
 * swaps each decoder for one that calls the type's generated decoder directly, found through one
 * decode of an empty message. A decoder whose type cannot be found that way is left as it was.
 */
export function reuseGeneratedDecoders(descriptors: {
  longrunning: Record<string, LroDescriptor>;
}): void {
  for (const descriptor of Object.values(descriptors.longrunning)) {
    for (const key of ['responseDecoder', 'metadataDecoder'] as const) {
      const original = descriptor[key];
      if (original === undefined) continue;
      let type: DecodedType | undefined;
      try {
        type = typeOf(original(new Uint8Array(0)));
      } catch {
        type = undefined;
      }
      if (type !== undefined) {
        const generated = type;
        descriptor[key] = (bytes) => generated.decode(bytes);
      }
    }
  }
}
