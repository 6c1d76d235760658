// Credentials that must never be published in a package. Same conventions as malware.yar.

rule Private_Key : secret
{
    meta:
        description = "PEM private key (PKCS#1, PKCS#8, SEC1, OpenSSH, DSA)"
    strings:
        $pkcs8 = "-----BEGIN PRIVATE KEY-----"
        $rsa = "-----BEGIN RSA PRIVATE KEY-----"
        $ec = "-----BEGIN EC PRIVATE KEY-----"
        $openssh = "-----BEGIN OPENSSH PRIVATE KEY-----"
        $dsa = "-----BEGIN DSA PRIVATE KEY-----"
    condition:
        any of them
}

rule AWS_Access_Key_Id : secret
{
    meta:
        description = "AWS access key id (long-term AKIA or temporary ASIA)"
    strings:
        $key = /\b(AKIA|ASIA)[0-9A-Z]{16}\b/
        // AWS's documented example key appears in many SDKs and their docs.
        $example = "AKIAIOSFODNN7EXAMPLE"
    condition:
        #key > #example
}

rule GCP_Service_Account_Key : secret
{
    meta:
        description = "Google Cloud service-account key file (JSON)"
    strings:
        $type = /"type"\s{0,8}:\s{0,8}"service_account"/
        $key_id = /"private_key_id"\s{0,8}:\s{0,8}"[0-9a-f]{40}"/
    condition:
        $type and $key_id
}
