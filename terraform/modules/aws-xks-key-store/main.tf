data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account_root = "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"
  aliases = merge([
    for name, key in var.keys : { for alias in key.aliases : alias => name }
  ]...)
}

resource "aws_kms_custom_key_store" "xks" {
  custom_key_store_name  = var.name
  custom_key_store_type  = "EXTERNAL_KEY_STORE"
  xks_proxy_connectivity = "PUBLIC_ENDPOINT"
  xks_proxy_uri_endpoint = var.endpoint
  xks_proxy_uri_path     = var.uri_path

  # Stored in state by the provider: there is no write-only form
  # (docs/deploy/state.md).
  xks_proxy_authentication_credential {
    access_key_id         = var.access_key_id
    raw_secret_access_key = var.secret_access_key
  }
}

# The AWS provider has no resource for ConnectCustomKeyStore. This step
# connects the store and waits for CONNECTED before any key is created (KMS
# refuses CreateKey in a store that is not connected); when the store is
# destroyed it disconnects it first (KMS refuses to delete a connected store).
resource "terraform_data" "connect" {
  input = {
    key_store_id = aws_kms_custom_key_store.xks.id
    aws_cli      = var.aws_cli
  }

  # A new endpoint, path or credential is checked by connecting again.
  triggers_replace = [
    aws_kms_custom_key_store.xks.id,
    var.endpoint,
    var.uri_path,
    var.access_key_id,
  ]

  provisioner "local-exec" {
    command = "${path.module}/connect-key-store connect"
    environment = {
      KEY_STORE_ID    = aws_kms_custom_key_store.xks.id
      AWS_CLI         = var.aws_cli
      TIMEOUT_SECONDS = tostring(var.connect_timeout_seconds)
    }
  }

  provisioner "local-exec" {
    when    = destroy
    command = "${path.module}/connect-key-store disconnect"
    environment = {
      KEY_STORE_ID = self.input.key_store_id
      AWS_CLI      = self.input.aws_cli
    }
  }
}

data "aws_iam_policy_document" "key" {
  # A key policy's resource is the key it is attached to: "*" there means
  # "this key", never other resources.
  #checkov:skip=CKV_AWS_111:a key policy's "*" resource is the key itself
  #checkov:skip=CKV_AWS_356:a key policy's "*" resource is the key itself
  #checkov:skip=CKV_AWS_109:a key policy's "*" resource is the key itself; kms:Put*/Create* are for the administrators named here
  # Without this statement a key policy mistake locks the account out of the
  # key for good; IAM policies in the account decide who else may act.
  statement {
    sid       = "AccountRootManagesTheKey"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = [local.account_root]
    }
  }

  statement {
    sid = "AdministratorsManageButDoNotUse"
    actions = [
      "kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*", "kms:Update*",
      "kms:Revoke*", "kms:Disable*", "kms:Get*", "kms:Delete*", "kms:TagResource",
      "kms:UntagResource", "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion",
    ]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = var.administrator_arns
    }
  }

  dynamic "statement" {
    for_each = length(var.user_arns) > 0 ? [1] : []
    content {
      sid       = "UsersUseTheKey"
      actions   = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]
      resources = ["*"]
      principals {
        type        = "AWS"
        identifiers = var.user_arns
      }
    }
  }

  dynamic "statement" {
    for_each = length(var.s3_user_arns) > 0 ? [1] : []
    content {
      sid       = "S3UsersUseTheKeyThroughS3Only"
      actions   = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]
      resources = ["*"]
      principals {
        type        = "AWS"
        identifiers = var.s3_user_arns
      }
      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["s3.${data.aws_region.current.region}.amazonaws.com"]
      }
      condition {
        test     = "StringEquals"
        variable = "kms:CallerAccount"
        values   = [data.aws_caller_identity.current.account_id]
      }
    }
  }
}

resource "aws_kms_key" "xks" {
  for_each = var.keys
  #checkov:skip=CKV_AWS_7:KMS cannot rotate keys in an external key store; rotation is xksctl rotate

  description              = each.value.description
  custom_key_store_id      = aws_kms_custom_key_store.xks.id
  xks_key_id               = each.value.xks_key_id
  key_usage                = "ENCRYPT_DECRYPT"
  customer_master_key_spec = "SYMMETRIC_DEFAULT"
  deletion_window_in_days  = var.deletion_window_in_days
  policy                   = data.aws_iam_policy_document.key.json
  is_enabled               = true
  tags                     = var.tags

  # No enable_key_rotation: KMS does not rotate keys in an external key store.
  # Rotation is ours (xksctl rotate, docs/xksctl.md).

  depends_on = [terraform_data.connect]
}

resource "aws_kms_alias" "xks" {
  for_each = local.aliases

  name          = each.key
  target_key_id = aws_kms_key.xks[each.value].key_id
}
